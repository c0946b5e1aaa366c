# Compiles a GLSL shader to SPIR-V at build time into a header that declares
# `const uint32_t VARIABLE[]` (glslangValidator --vn; Debian: glslang-tools). The repository keeps
# the GLSL only, never the SPIR-V.
find_program(GLSLANG_VALIDATOR glslangValidator REQUIRED
             DOC "glslangValidator, which compiles the examples' GLSL to SPIR-V (Debian: glslang-tools)")

# geyser_compile_shader(TARGET SOURCE VARIABLE): TARGET's sources may `#include "<name of SOURCE>.h"`.
function(geyser_compile_shader target source variable)
  get_filename_component(name "${source}" NAME)
  set(dir "${CMAKE_CURRENT_BINARY_DIR}/${target}_shaders")
  set(out "${dir}/${name}.h")
  add_custom_command(OUTPUT "${out}"
    COMMAND ${CMAKE_COMMAND} -E make_directory "${dir}"
    COMMAND ${GLSLANG_VALIDATOR} -V --target-env vulkan1.1 --vn ${variable} -o "${out}" "${source}"
    DEPENDS "${source}"
    COMMENT "Compiling ${name} to SPIR-V"
    VERBATIM)
  target_sources(${target} PRIVATE "${out}")
  target_include_directories(${target} PRIVATE "${dir}")
endfunction()
