# svmlab's .gdbinit: loads the kernel's symbols and svmlab's GDB commands and
# connects to the stub of `make qemu-gdb`. Committed as it is: nothing
# generates it.
#
#   terminal 1:  make qemu-gdb          QEMU starts stopped, prints its port
#   terminal 2:  make gdb               or a plain `gdb` in this directory
#
# A plain `gdb` loads ./.gdbinit only from a directory you allowed, once, in
# ~/.config/gdb/gdbinit (gdb refuses it otherwise and says so):
#     add-auto-load-safe-path /path/to/your/svmlab/.gdbinit
#
# Found from the environment, as the Makefile computes them:
#   GDBPORT  the stub's TCP port on 127.0.0.1 (default: your user id % 5000
#            + 25000, the Makefile's default), or the path of a Unix socket
#   B        the build directory (default build): the symbols of B/kernel.elf
#   SVMLAB_GDB_CONNECT=0  load everything but do not connect

set confirm off
set pagination off
set print pretty on

python
import os as _os

def _svmlab_gdbinit():
    root = _os.getcwd()
    helpers = _os.path.join(root, "tools", "gdb", "svm.py")
    if not _os.path.exists(helpers):
        print("svmlab: start gdb in the top directory of the tree (no tools/gdb/svm.py in %s)" % root)
        return
    elf = _os.path.join(root, _os.environ.get("B") or "build", "kernel.elf")
    if _os.path.exists(elf):
        # The symbols first: gdb takes the architecture from them.
        gdb.execute("file %s" % elf)
    else:
        print("svmlab: %s is missing: run make first" % elf)
    # The kernel starts in 32-bit protected mode (multiboot) and switches to
    # long mode in kern/boot.S. qemu-system-x86_64's stub always sends the
    # 64-bit register set, also in 16- and 32-bit mode, so gdb must stay on
    # i386:x86-64 for the whole session: with i386 it fails with "Remote 'g'
    # packet reply is too long", and changing it later needs a disconnect.
    # Breakpoints are QEMU's own (Z0/Z1 packets on linear addresses), so
    # `break main` set at the first prompt holds across the switch to paging.
    gdb.execute("set architecture i386:x86-64")
    # The svmlab commands (`help svm`), loaded before connecting, so that
    # they are there even when the connection fails.
    gdb.execute("source %s" % helpers)
    gdb.execute("source %s" % _os.path.join(root, "tools", "gdb", "guestmem.py"))
    port = _os.environ.get("GDBPORT") or str(_os.getuid() % 5000 + 25000)
    remote = "127.0.0.1:" + port if port.isdigit() else port
    if _os.environ.get("SVMLAB_GDB_CONNECT") == "0":
        print("svmlab: not connecting to %s (SVMLAB_GDB_CONNECT=0)" % remote)
        return
    try:
        gdb.execute("target remote %s" % remote)
    except gdb.error as e:
        print("svmlab: no gdb stub at %s (%s).\n"
              "svmlab: start `make qemu-gdb` in another terminal (it prints its port), then type:"
              " target remote %s" % (remote, str(e).strip(), remote))

_svmlab_gdbinit()
end
