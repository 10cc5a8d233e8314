# replay_test.cmake — runs chorus-sim twice with the same seed and options and requires the same
# trace_hash line (and a different one for another seed, so the comparison can fail); once for a
# fixed ring, once with membership faults and the groups layer.
#   cmake -DSIM=/path/to/chorus-sim -P replay_test.cmake

set(args --nodes 4 --loss 0.1 --dup 0.05 --reorder 0.05 --clog 0.01 --messages 30 --fault-ms 200)
set(group_args --nodes 4 --loss 0.05 --dup 0.02 --reorder 0.02 --messages 10 --fault-ms 200
    --membership --crashes 1 --restart-ms 30 --partitions 1 --groups --group-ops 20)

function(trace_hash out seed)
  execute_process(COMMAND ${SIM} --seed ${seed} ${ARGN}
                  OUTPUT_VARIABLE stdout RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "chorus-sim --seed ${seed} failed (${rc}):\n${stdout}")
  endif()
  string(REGEX MATCH "trace_hash=0x[0-9a-f]+\n?$" line "${stdout}")
  if(line STREQUAL "")
    message(FATAL_ERROR "no trace_hash=… last line in:\n${stdout}")
  endif()
  set(${out} "${line}" PARENT_SCOPE)
endfunction()

foreach(set IN ITEMS args group_args)
  trace_hash(first 0x5eed ${${set}})
  trace_hash(second 0x5eed ${${set}})
  trace_hash(other 0x5eee ${${set}})
  if(NOT first STREQUAL second)
    message(FATAL_ERROR "${set}: seed 0x5eed replayed to another hash: ${first} vs ${second}")
  endif()
  if(first STREQUAL other)
    message(FATAL_ERROR "${set}: seeds 0x5eed and 0x5eee gave the same hash ${first}")
  endif()
  message(STATUS "${set}: replay reproduced ${first}")
endforeach()
