/* trust.c -- STUB (owner: renderer helper). */
#include <stdlib.h>
#include "modelfs/trust.h"
struct TrustList { int dummy; };
TrustList *trust_new_default(void) { return calloc(1, sizeof(TrustList)); }
MfsStatus trust_add_file(TrustList *t, const char *p, Err *e) { (void)t; (void)p; (void)e; return MFS_OK; }
MfsStatus trust_add_name(TrustList *t, const char *d) { (void)t; (void)d; return MFS_OK; }
void trust_free(TrustList *t) { free(t); }
int trust_is_trusted(const TrustList *t, const char *d) { (void)t; (void)d; return 0; }
int trust_is_dangerous(const char *d) { (void)d; return 0; }
const char *trust_verdict(const TrustList *t, const char *const *g, size_t n) { (void)t; (void)g; return n ? "untrusted" : "safe"; }
