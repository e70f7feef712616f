# The git revision for --version and Help -> About, read at configure time.
# A tarball (no .git, or one unpacked inside some other repository) says "unknown".
set(AMPBENCH_GIT_REVISION "unknown")
find_package(Git QUIET)
if(GIT_FOUND)
  execute_process(COMMAND ${GIT_EXECUTABLE} rev-parse --show-toplevel
                  WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
                  OUTPUT_VARIABLE _ampbench_git_top OUTPUT_STRIP_TRAILING_WHITESPACE
                  RESULT_VARIABLE _ampbench_git_rc ERROR_QUIET)
  if(_ampbench_git_rc EQUAL 0)
    get_filename_component(_ampbench_git_top "${_ampbench_git_top}" REALPATH)
    get_filename_component(_ampbench_src "${PROJECT_SOURCE_DIR}" REALPATH)
  endif()
  if(_ampbench_git_rc EQUAL 0 AND _ampbench_git_top STREQUAL _ampbench_src)
    execute_process(COMMAND ${GIT_EXECUTABLE} describe --always --dirty
                    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
                    OUTPUT_VARIABLE _ampbench_describe OUTPUT_STRIP_TRAILING_WHITESPACE
                    RESULT_VARIABLE _ampbench_git_rc ERROR_QUIET)
    if(_ampbench_git_rc EQUAL 0 AND _ampbench_describe)
      set(AMPBENCH_GIT_REVISION "${_ampbench_describe}")
    endif()
  endif()
endif()
message(STATUS "AmpBench ${PROJECT_VERSION}, revision ${AMPBENCH_GIT_REVISION}")
configure_file(${PROJECT_SOURCE_DIR}/cmake/BuildRevision.h.in
               ${PROJECT_BINARY_DIR}/generated/ampbench/BuildRevision.h @ONLY)
