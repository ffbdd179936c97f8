# Shared by the image scripts (sourced): a root folder holding busybox and its applet links,
# binaries copied with the libraries ldd lists, and the import without a registry.
busybox_root() { # ROOT
  mkdir -p "$1/bin" "$1/tmp" "$1/etc"
  cp "$(command -v busybox)" "$1/bin/busybox"
  for applet in $(busybox --list); do
    [ "$applet" = busybox ] || ln -s busybox "$1/bin/$applet"
  done
  echo 'root:x:0:0:root:/root:/bin/sh' > "$1/etc/passwd"
}
copy_binary() { # ROOT NAME
  cp -L "$(command -v "$2")" "$1/bin/$2"
  for lib in $(ldd "$(command -v "$2")" | grep -o '/[^ ]*'); do
    mkdir -p "$1$(dirname "$lib")"
    cp -L "$lib" "$1$lib"
  done
}
