# strata_set_warnings(TARGET): the project's curated warning set.
function(strata_set_warnings target)
    target_compile_options(${target} PRIVATE
        -Wall -Wextra -Wpedantic
        -Woverloaded-virtual
        -Wimplicit-fallthrough
        -Wmissing-declarations
        -Wshadow=local
        -Wnon-virtual-dtor)
    if(STRATA_WERROR)
        target_compile_options(${target} PRIVATE -Werror)
    endif()
endfunction()
