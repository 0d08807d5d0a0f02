"""The real kernel code in the loop: kernel files built in user space against shims written here.

``sources`` finds and extracts kernel sources (Debian's ``linux-source-*`` packages or a tree the
user names), ``build`` compiles one *area* (``dyndbg``: lib/dynamic_debug.c and its helpers;
``zsmalloc``: mm/zsmalloc.c) into a shared object against ``shim/``, ``process`` runs that object in
a forked child (a crash, a ``BUG()`` or a hang inside kernel code ends one test case, never the
Python process), and ``dyndbg`` / ``zsmalloc`` are the typed bindings the differential machines of
``properties/`` drive.  This floor may import ``model/`` and nothing above it.
"""
