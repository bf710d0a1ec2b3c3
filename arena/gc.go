package arena

// GC removes the orphaned segments of dir (resolved as by Dir): those whose
// creator asked for unlink-on-exit (Ephemeral) and is no longer running, as
// recorded by its pid and start time. It never removes a segment whose
// creator lives, or one created without that request. With dryRun it only
// reports. It returns the segments removed (or that would be), and the first
// error met while removing; it goes on past errors.
func GC(dir string, dryRun bool) ([]Info, error) {
	infos, err := List(dir)
	if err != nil {
		return nil, err
	}
	var removed []Info
	var firstErr error
	for _, info := range infos {
		if !info.Orphan() {
			continue
		}
		if !dryRun {
			if err := Unlink(info.Name, dir); err != nil {
				if firstErr == nil {
					firstErr = err
				}
				continue
			}
		}
		removed = append(removed, info)
	}
	return removed, firstErr
}
