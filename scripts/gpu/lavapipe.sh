# Debian 12's lavapipe beside the NVIDIA ICD on the GPU machine: two real Vulkan devices in one
# process (issue #18's copy-path runs, docs/fallback.md).
#
#   bash scripts/gpu/lavapipe.sh pack      here (Debian 12, mesa-vulkan-drivers installed):
#                                          build/lvp/lvp.tar.xz, carried there as "build/lvp"
#   source scripts/gpu/lavapipe.sh         there, after .gl/prologue.sh: unpacks it under /tmp
#                                          and names its ICD in VK_ADD_DRIVER_FILES
#
# The pack holds Debian's libvulkan_lvp.so and every library it needs but the C/C++ runtime and
# the compression, expat and ffi libraries that Ubuntu 24.04 has too (libLLVM-15, libz3, ICU 72,
# the xcb and wayland client libraries...), each given RUNPATH $ORIGIN, so nothing goes under /
# and no LD_LIBRARY_PATH is needed.
_lvp_root=/tmp/lvp
if [ "${1:-}" = "pack" ]; then
    set -e
    lvp=/usr/lib/x86_64-linux-gnu/libvulkan_lvp.so
    rm -rf "$_lvp_root" && mkdir -p "$_lvp_root/lib"
    for l in $(ldd "$lvp" | awk '{print $3}' |
               grep -v -E 'libc\.so|libm\.so|libstdc|libgcc_s|libpthread|libz\.so|libzstd|libexpat|libffi|libtinfo|liblzma'); do
        cp -L "$l" "$_lvp_root/lib/"
    done
    cp -L "$lvp" "$_lvp_root/lib/"
    for f in "$_lvp_root"/lib/*; do patchelf --set-rpath '$ORIGIN' "$f"; done
    mkdir -p build/lvp
    tar -cJf build/lvp/lvp.tar.xz -C /tmp lvp/lib
    ls -la build/lvp/lvp.tar.xz
else
    if [ ! -f "$_lvp_root/lib/libvulkan_lvp.so" ]; then
        tar -xJf "$PWD/build/lvp/lvp.tar.xz" -C /tmp
    fi
    cat > "$_lvp_root/lvp_icd.x86_64.json" <<JSON
{"ICD": {"api_version": "1.1.230", "library_path": "$_lvp_root/lib/libvulkan_lvp.so"}, "file_format_version": "1.0.0"}
JSON
    export VK_ADD_DRIVER_FILES="$_lvp_root/lvp_icd.x86_64.json"
fi
