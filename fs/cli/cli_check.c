/*
** cli_check.c -- `modelfs check`: will these model files load in that environment?
**
** Decodes each file, asks compat.c for its report against the target built from
** --sklearn/--numpy/--python/--skops, and prints one verdict per file with its
** reasons (or the compat.json documents with --json).  The exit status is the
** worst verdict: 0 loads, 1 loads with warnings, 2 fails, 3 unreadable.
**
** It only formats what compat.c decided; it must never judge a model itself.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "modelfs/compat.h"
#include "modelfs/decode.h"
#include "modelfs/identify.h"

#define CHECK_USAGE 64
#define TARGET_MAX 256

static int usage(void) {
  fprintf(stderr,
          "usage: modelfs check FILE... [--sklearn V] [--numpy V] [--python V] [--skops V] [--json]\n"
          "exit status: 0 loads, 1 loads with warnings, 2 fails, 3 unreadable\n");
  return CHECK_USAGE;
}

static int add_target(char *t, const char *lib, const char *ver) {
  size_t n = strlen(t);
  int w = snprintf(t + n, TARGET_MAX - n, "%s%s=%s", n ? "," : "", lib, ver);
  return w < 0 || (size_t)w >= TARGET_MAX - n ? -1 : 0;
}

static const char *str_item(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The facts line: what saved it and what it needs. */
static void print_facts(const cJSON *doc) {
  const char *sv = str_item(doc, "sklearn_version");
  const cJSON *vs = cJSON_GetObjectItemCaseSensitive(doc, "sklearn_versions");
  const cJSON *np = cJSON_GetObjectItemCaseSensitive(doc, "numpy");
  const char *gen = np ? str_item(np, "generation") : NULL;
  printf("  saved by: scikit-learn %s", sv ? sv : "?");
  if (cJSON_GetArraySize(vs) > 1 || (!sv && cJSON_GetArraySize(vs) == 1)) {
    printf(" (estimators:");
    for (const cJSON *c = vs->child; c; c = c->next) printf(" %s", c->valuestring);
    printf(")");
  }
  printf(", numpy %s", gen ? gen : "?");
  const cJSON *pp = cJSON_GetObjectItemCaseSensitive(doc, "pickle_protocol");
  const cJSON *sp = cJSON_GetObjectItemCaseSensitive(doc, "skops_protocol");
  if (cJSON_IsNumber(pp)) printf(", pickle protocol %d", pp->valueint);
  if (cJSON_IsNumber(sp)) printf(", skops protocol %d", sp->valueint);
  printf("\n");
  const cJSON *req = cJSON_GetObjectItemCaseSensitive(doc, "requires");
  if (req && req->child) {
    printf("  needs:");
    for (const cJSON *c = req->child; c; c = c->next) {
      const char *lo = str_item(c, "min"), *hi = str_item(c, "below");
      printf(" %s%s%s%s%s%s", c->string, lo ? ">=" : "", lo ? lo : "", lo && hi ? "," : "", hi ? "<" : "", hi ? hi : "");
      if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "conflict"))) printf(" (no version satisfies both)");
    }
    printf("\n");
  }
}

static void print_report(const char *file, const cJSON *doc) {
  const char *verdict = str_item(doc, "verdict");
  const char *terr = str_item(doc, "target_error");
  printf("%s: %s\n", file, verdict ? verdict : terr ? terr : "no target given");
  const char *err = str_item(doc, "error");
  if (err) printf("  error: %s\n", err);
  print_facts(doc);
  const cJSON *reasons = cJSON_GetObjectItemCaseSensitive(doc, "reasons");
  for (const cJSON *r = reasons ? reasons->child : NULL; r; r = r->next) {
    const char *ev = str_item(r, "evidence");
    printf("  %s: %s", str_item(r, "severity"), str_item(r, "reason"));
    if (ev) printf(" [%s]", ev);
    printf("\n");
  }
  const cJSON *un = cJSON_GetObjectItemCaseSensitive(doc, "unchecked");
  if (un && un->child) {
    printf("  not checked (no target given for):");
    for (const cJSON *c = un->child; c; c = c->next) printf(" %s", c->valuestring);
    printf("\n");
  }
}

static int check_one(const char *file, const char *target, int as_json) {
  Ident id;
  identify_path(file, &id);
  if (!ident_is_model(&id)) {   /* listed, as scan lists it, and not a failure */
    if (as_json) printf("{\"file\": \"%s\", \"verdict\": \"not-model\"}\n", file);
    else printf("%s: not a model (%s)\n", file, id.what);
    return COMPAT_LOADS;
  }
  Model *m = model_decode(file);
  if (m == NULL) {
    fprintf(stderr, "modelfs check: %s: out of memory\n", file);
    return COMPAT_UNREADABLE;
  }
  char *json = NULL;
  CompatVerdict v = compat_check(m, target[0] ? target : NULL, &json);
  if (!m->ok && v == COMPAT_NO_TARGET) v = COMPAT_UNREADABLE;
  model_free(m);
  if (json == NULL) {
    fprintf(stderr, "modelfs check: %s: out of memory\n", file);
    return COMPAT_UNREADABLE;
  }
  if (as_json) {
    fputs(json, stdout);
  } else {
    cJSON *doc = cJSON_Parse(json);
    if (doc) print_report(file, doc);
    cJSON_Delete(doc);
  }
  free(json);
  return v == COMPAT_NO_TARGET ? COMPAT_LOADS : (int)v;
}

int compat_cli_check(int argc, char **argv) {
  char target[TARGET_MAX] = "";
  int as_json = 0, first = 1, worst = 0, nfiles = 0;
  if (argc > 1 && strcmp(argv[1], "check") == 0) first = 2;
  for (int i = first; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--json") == 0) { as_json = 1; continue; }
    if (strncmp(a, "--", 2) == 0 && strcmp(a, "--") != 0) {
      const char *lib = a + 2, *val = strchr(lib, '=');
      char name[32];
      size_t n = val ? (size_t)(val - lib) : strlen(lib);
      if (n == 0 || n >= sizeof name) return usage();
      memcpy(name, lib, n);
      name[n] = '\0';
      if (val) val++;
      else if (i + 1 < argc) val = argv[++i];
      else return usage();
      if (strcmp(name, "sklearn") && strcmp(name, "scikit-learn") && strcmp(name, "numpy") &&
          strcmp(name, "python") && strcmp(name, "skops")) return usage();
      if (add_target(target, name, val) != 0) return usage();
      continue;
    }
    nfiles++;
  }
  if (nfiles == 0) return usage();
  for (int i = first; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--json") == 0) continue;
    if (strncmp(a, "--", 2) == 0 && strcmp(a, "--") != 0) {
      if (strchr(a, '=') == NULL) i++;
      continue;
    }
    int v = check_one(a, target, as_json);
    if (v > worst) worst = v;
  }
  fflush(stdout);
  return worst;
}
