# strata_add_network(NAME SOURCE file.strata [TARGET halide-target] [WEIGHTS file.safetensors]
#                    [OPTIONS extra strata compile options...])
#
# Compiles a network description at build time, the way add_halide_library
# runs a generator, and defines a static library target NAME whose include
# directory holds NAME.h. The library is rebuilt when the description, the
# weights or the strata compiler change. TARGET defaults to "host".
include_guard(GLOBAL)

find_package(Threads REQUIRED)

function(strata_add_network name)
    cmake_parse_arguments(PARSE_ARGV 1 ARG "" "SOURCE;TARGET;WEIGHTS" "OPTIONS")
    if(NOT ARG_SOURCE)
        message(FATAL_ERROR "strata_add_network(${name}): SOURCE is required")
    endif()
    if(NOT ARG_TARGET)
        set(ARG_TARGET host)
    endif()
    if(NOT TARGET Strata::strata)
        message(FATAL_ERROR "strata_add_network(${name}): the Strata::strata executable is "
                            "not defined; call find_package(Strata) first")
    endif()
    get_filename_component(source "${ARG_SOURCE}" ABSOLUTE)
    set(out_dir "${CMAKE_CURRENT_BINARY_DIR}/strata/${name}")
    set(prefix "${out_dir}/${name}")
    set(command Strata::strata compile "${source}" --target ${ARG_TARGET} --name ${name}
                -o "${prefix}" ${ARG_OPTIONS})
    set(depends "${source}" Strata::strata)
    if(ARG_WEIGHTS)
        get_filename_component(weights "${ARG_WEIGHTS}" ABSOLUTE)
        list(APPEND command --weights "${weights}")
        list(APPEND depends "${weights}")
    endif()
    file(MAKE_DIRECTORY "${out_dir}")
    add_custom_command(
        OUTPUT "${prefix}.a" "${prefix}.h"
        COMMAND ${command}
        DEPENDS ${depends}
        COMMENT "strata: compiling network ${name} for ${ARG_TARGET}"
        VERBATIM)
    add_custom_target(${name}.generate DEPENDS "${prefix}.a" "${prefix}.h")
    add_library(${name} STATIC IMPORTED GLOBAL)
    set_target_properties(${name} PROPERTIES
        IMPORTED_LOCATION "${prefix}.a"
        INTERFACE_INCLUDE_DIRECTORIES "${out_dir}")
    target_link_libraries(${name} INTERFACE Threads::Threads ${CMAKE_DL_LIBS})
    add_dependencies(${name} ${name}.generate)
endfunction()
