/* pickle.c -- STUB: the pickle VM (owner: pickle helper). */
#include "modelfs/pickle.h"
MfsStatus pickle_run(Model *m, Reader *r, const PickleHooks *hooks, int depth, Value **result, int *protocol) {
  (void)hooks; (void)depth; (void)protocol; *result = NULL;
  return err_set(&m->err, MFS_EUNSUPPORTED, reader_pos(r), "pickle VM not written yet");
}
int pickle_sniff(const uint8_t *head, size_t n) { return n >= 2 && head[0] == 0x80 && head[1] >= 2 && head[1] <= 5; }
void pickle_map_py2_name(const char **module, const char **name) { (void)module; (void)name; }
