"""Helpers shared by the CLI tests in tests/s5tse/bin."""


def run_cli(main, args, capsys):
    """Run a CLI ``main`` in-process on ``args``: (exit status, stdout, stderr)."""
    try:
        main([str(a) for a in args])
        status = 0
    except SystemExit as e:
        status = e.code
    out = capsys.readouterr()
    return status, out.out, out.err
