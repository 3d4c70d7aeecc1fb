/* render.c -- STUB (owner: renderer helper). */
#include "modelfs/render.h"
RTree *render_tree(Model *m, const TrustList *trust) { (void)m; (void)trust; return NULL; }
void render_free(RTree *t) { (void)t; }
Model *render_model(const RTree *t) { (void)t; return NULL; }
uint32_t render_count(const RTree *t) { (void)t; return 0; }
const RNode *render_node(const RTree *t, uint32_t i) { (void)t; (void)i; return NULL; }
const RNode *render_root(const RTree *t) { (void)t; return NULL; }
const RNode *render_lookup(const RTree *t, const RNode *d, const char *n) { (void)t; (void)d; (void)n; return NULL; }
const RNode *render_path(const RTree *t, const char *p) { (void)t; (void)p; return NULL; }
MfsStatus render_size(RTree *t, const RNode *n, uint64_t *s, Err *e) { (void)t; (void)n; (void)s; return err_set(e, MFS_EUNSUPPORTED, 0, "stub"); }
MfsStatus render_read(RTree *t, const RNode *n, uint64_t o, void *b, size_t l, size_t *g, Err *e) { (void)t; (void)n; (void)o; (void)b; (void)l; (void)g; return err_set(e, MFS_EUNSUPPORTED, 0, "stub"); }
size_t render_memory(const RTree *t) { (void)t; return 0; }
