package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Progress bars appear only on a terminal and only for work that has
// already run this long: quick imports and pipes (tests, scripts) see none.
const (
	progressDelay = 2 * time.Second
	progressTick  = 200 * time.Millisecond
)

// progress counts the bytes an import has read and, on a terminal, draws a
// bar of them against the input's size on stderr. Its methods are safe for
// concurrent use; a nil *progress counts nothing.
type progress struct {
	total int64 // bytes expected; 0 when unknown (a pipe)
	done  atomic.Int64

	out   io.Writer
	start time.Time
	stop  chan struct{}
	wg    sync.WaitGroup
	drawn bool
}

// startProgress begins counting towards total bytes. It draws only if w is
// a terminal.
func startProgress(w io.Writer, total int64) *progress {
	p := &progress{total: total, out: w, start: time.Now(), stop: make(chan struct{})}
	if isTerminal(w) {
		p.wg.Add(1)
		go p.loop()
	}
	return p
}

// add records n more bytes read.
func (p *progress) add(n int) {
	if p != nil {
		p.done.Add(int64(n))
	}
}

// finish stops drawing and erases the bar.
func (p *progress) finish() {
	if p == nil {
		return
	}
	select {
	case <-p.stop:
		return
	default:
	}
	close(p.stop)
	p.wg.Wait()
	if p.drawn {
		fmt.Fprint(p.out, "\r\033[K")
	}
}

func (p *progress) loop() {
	defer p.wg.Done()
	t := time.NewTicker(progressTick)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case now := <-t.C:
			if now.Sub(p.start) >= progressDelay {
				p.draw(now)
			}
		}
	}
}

func (p *progress) draw(now time.Time) {
	done := p.done.Load()
	elapsed := now.Sub(p.start).Seconds()
	rate := float64(done) / max(elapsed, 1e-9)
	var line string
	if p.total > 0 {
		frac := min(float64(done)/float64(p.total), 1)
		const width = 30
		fill := int(frac * width)
		bar := strings.Repeat("=", fill) + strings.Repeat(" ", width-fill)
		if fill < width {
			bar = bar[:fill] + ">" + bar[fill+1:]
		}
		line = fmt.Sprintf("[%s] %3.0f%%  %s / %s  %s/s", bar, frac*100, sizeText(done), sizeText(p.total), sizeText(int64(rate)))
		if rate > 0 && done < p.total {
			line += fmt.Sprintf("  %s left", roundDuration(time.Duration(float64(p.total-done)/rate*float64(time.Second))))
		}
	} else {
		line = fmt.Sprintf("%s read  %s/s", sizeText(done), sizeText(int64(rate)))
	}
	fmt.Fprint(p.out, "\r\033[K"+line)
	p.drawn = true
}

// isTerminal reports whether w is a terminal (a tty, not a pipe or file).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// countingReader counts what it reads into a progress.
type countingReader struct {
	r io.Reader
	p *progress
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.p.add(n)
	return n, err
}

// countingFile is a file read at random (Parquet, Arrow IPC files) whose
// reads are counted.
type countingFile struct {
	f *os.File
	p *progress
}

func (c *countingFile) Read(b []byte) (int, error) {
	n, err := c.f.Read(b)
	c.p.add(n)
	return n, err
}

func (c *countingFile) ReadAt(b []byte, off int64) (int, error) {
	n, err := c.f.ReadAt(b, off)
	c.p.add(n)
	return n, err
}

func (c *countingFile) Seek(off int64, whence int) (int64, error) { return c.f.Seek(off, whence) }

func roundDuration(d time.Duration) time.Duration {
	switch {
	case d > time.Minute:
		return d.Round(time.Second)
	case d > time.Second:
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Millisecond)
}
