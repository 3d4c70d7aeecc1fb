/*
** fuzz_render.c -- libFuzzer target: the renderer on graphs from arbitrary
** pickles.  Every node's content is read (chunks, middle, past the end) and
** every name must be found again by render_path and render_lookup.
*/
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_exercise_model(fuzz_decode_bytes(data, size, "fuzz.pkl"), 1);
  return 0;
}
