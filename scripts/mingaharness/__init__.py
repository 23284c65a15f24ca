"""The harness shared by scripts/bench, scripts/chaos and scripts/fuzz-http.

Standard library only. The scripts put their own directory on sys.path and import it:

    log        progress lines on stderr (plain, or with the elapsed time)
    process    child processes: one registry (ended on exit or Ctrl-C), faketime clocks,
               bounded runs, runs measured for wall time and peak RSS (VmHWM)
    binary     the repository root and which `minga` binary to run
    node       a node (one replica) and its `minga serve`
    federation every node lists every other node's public key in its roster
    sqlitedb   sqlite3-module helpers: connections, snapshots, file sizes, table digests
"""
