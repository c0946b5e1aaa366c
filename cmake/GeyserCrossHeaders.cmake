# Cross builds only (Windows from Linux): Vulkan-Headers and volk are header-only and the same for
# every target, but the cross toolchain must not search the build machine's /usr/include (glibc's
# headers would shadow MinGW's). Link just the two packages' files into the build tree and use that
# directory. Nothing is copied; the files stay Debian's (libvulkan-dev, libvulkan-volk-dev).
set(GEYSER_HOST_INCLUDE_DIR "/usr/include" CACHE PATH
    "Build-machine directory holding vulkan/, vk_video/, volk.h and volk.c (cross builds only)")
set(_geyser_staged "${CMAKE_BINARY_DIR}/geyser-host-headers")
file(MAKE_DIRECTORY "${_geyser_staged}")
foreach(_entry vulkan vk_video volk.h volk.c)
  if(NOT EXISTS "${GEYSER_HOST_INCLUDE_DIR}/${_entry}")
    message(FATAL_ERROR "geyser: ${GEYSER_HOST_INCLUDE_DIR}/${_entry} not found; install libvulkan-dev and "
                        "libvulkan-volk-dev on the build machine, or set GEYSER_HOST_INCLUDE_DIR")
  endif()
  if(NOT EXISTS "${_geyser_staged}/${_entry}")
    file(CREATE_LINK "${GEYSER_HOST_INCLUDE_DIR}/${_entry}" "${_geyser_staged}/${_entry}" SYMBOLIC)
  endif()
endforeach()
if(NOT TARGET Vulkan::Headers)
  add_library(Vulkan::Headers INTERFACE IMPORTED)
  set_target_properties(Vulkan::Headers PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${_geyser_staged}")
endif()
set(GEYSER_VOLK_INCLUDE_DIR "${_geyser_staged}" CACHE PATH "Directory holding volk.h and volk.c" FORCE)
