/*
** fuzz_pickle.c -- libFuzzer target: arbitrary bytes as a pickle file.
** Decodes from a memory source, renders the tree and reads every entry.
*/
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_exercise_model(fuzz_decode_bytes(data, size, "fuzz.pkl"), 0);
  return 0;
}
