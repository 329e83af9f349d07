"""What runs inside containers and on the user's terminal: images, filesystems, the shell, programs.

Programs reach the cluster only through `net` connections, never by importing `kube`.
"""
