# Windows settings of geyser_core (included by the top-level CMakeLists.txt when WIN32). What is
# compiled, what runs under wine and what is untested: docs/platforms.md.
if(GEYSER_BUILD_PYTHON)
  message(FATAL_ERROR "geyser: the Python extension is not built for Windows yet; the Windows core "
                      "has handles, the named-pipe channel and the Win32 external-handle code only "
                      "(docs/platforms.md)")
endif()
# VK_USE_PLATFORM_WIN32_KHR makes volk declare and load the *Win32HandleKHR entry points; volk.c
# and every file that includes volk.h must agree on it, or the dispatch tables differ in layout.
# WIN32_LEAN_AND_MEAN and NOMINMAX keep <windows.h> from defining min/max and pulling in winsock.
target_compile_definitions(geyser_core PRIVATE VK_USE_PLATFORM_WIN32_KHR WIN32_LEAN_AND_MEAN NOMINMAX
                                               _WIN32_WINNT=0x0A00)
