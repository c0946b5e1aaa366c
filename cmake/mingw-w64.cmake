# Toolchain file: cross-compile for 64-bit Windows with Debian's mingw-w64 (g++-mingw-w64-x86-64,
# the posix-threads variant, so std::thread and std::mutex work). Tests run under wine when it is
# installed; ctest then calls them through CMAKE_CROSSCOMPILING_EMULATOR.
#
#   cmake -S . -B build/mingw -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/mingw-w64.cmake \
#         -DGEYSER_BUILD_TESTS=ON -DGEYSER_WERROR=ON
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)

set(_geyser_mingw x86_64-w64-mingw32)
set(CMAKE_C_COMPILER ${_geyser_mingw}-gcc-posix)
set(CMAKE_CXX_COMPILER ${_geyser_mingw}-g++-posix)
set(CMAKE_RC_COMPILER ${_geyser_mingw}-windres)

set(CMAKE_FIND_ROOT_PATH /usr/${_geyser_mingw})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# Link the C++ runtime and winpthreads statically, so wine (or a Windows machine) needs no MinGW
# DLLs beside the executables.
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static")

find_program(GEYSER_WINE NAMES wine wine64)
if(GEYSER_WINE)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${GEYSER_WINE})
endif()
