# Apple settings of geyser_core (included by the top-level CMakeLists.txt when APPLE). The Metal
# backend is Objective-C++ (.mm) against the system SDK, so configuring fetches nothing. It has never
# been compiled: these machines run Linux (docs/platforms.md).
if(GEYSER_BUILD_PYTHON)
  message(FATAL_ERROR "geyser: the Python extension is not built on macOS yet; the Apple core has "
                      "the Metal backend only (docs/platforms.md)")
endif()
set_source_files_properties(cpp/src/metal/metal_texture.mm cpp/src/metal/metal_shared_event.mm
                            PROPERTIES COMPILE_OPTIONS "-fobjc-arc")
target_compile_options(geyser_core PRIVATE $<$<COMPILE_LANGUAGE:OBJCXX>:-Wall -Wextra
                                           $<$<BOOL:${GEYSER_WERROR}>:-Werror>>)
target_link_libraries(geyser_core PRIVATE "-framework Metal" "-framework IOSurface"
                                          "-framework Foundation" "-framework CoreFoundation")
