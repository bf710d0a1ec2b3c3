"""Share a segment across a Dask cluster: one copy per host, attached by every
worker process of that host.

``pip install shmarray[dask]`` brings ``dask.distributed``. On the client::

    import shmarray, shmarray.dask
    seg = shmarray.create("prices", {...})
    with shmarray.dask.share(client, seg) as shared:    # every host has it now
        client.map(work, parts, shared=shared)          # `shared` pickles to ~250 bytes

and in a task::

    def work(part, shared):
        seg = shared.segment()      # this host's copy: the same pages in every worker here
        return seg["bid"][part].sum()

What crosses the network is the segment's file, once per host that lacks
it, in chunks, as ordinary Dask tasks and data transfers: each chunk leaves
a worker that holds the segment (or the client, if none does) once and goes
to one worker of every such host. Each copy is verified on arrival by the
segment's own checksums and published atomically in the host's segment
directory (``$SHMARRAY_DIR``, else /dev/shm) by :class:`shmarray.Receiver`;
the other workers of the host attach it. A worker plugin gives workers and
hosts that join later their copy (pulled from workers that hold one), and
lets a restarted worker attach the copy its host kept.
:meth:`Shared.release` removes the copies.

A host is a segment directory of one running kernel (see
:func:`host_identity`): workers that do not share a segment directory are
never taken for one host, whatever their host names.

Only workers import this package's worker side; the scheduler needs no
shmarray. Versions: a share is bound to one published version of a segment
(its header's fingerprint, part of the plugin's name), so that replacing a
segment by a new version can later be a new share that retires the old one.
"""

from ._host import HostIdentity, host_identity
from ._share import Shared, attach, share
from ._worker import TransferError

__all__ = ["share", "attach", "Shared", "TransferError", "HostIdentity", "host_identity"]
