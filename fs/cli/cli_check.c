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
#include "modelfs/commands.h"
#include "modelfs/compat.h"
#include "modelfs/decode.h"
#include "modelfs/identify.h"
#include "modelfs/walk.h"

#define CHECK_USAGE 64
#define TARGET_MAX 256

enum { CHECK_JSON = 1, CHECK_SKLEARN, CHECK_NUMPY, CHECK_PYTHON, CHECK_SKOPS };

const CliOpt check_options[] = {
  {CHECK_SKLEARN, "--sklearn", "--scikit-learn", "V", "the scikit-learn version to load with (1.5 or 1.5.2)"},
  {CHECK_NUMPY, "--numpy", NULL, "V", "the numpy version"},
  {CHECK_PYTHON, "--python", NULL, "V", "the Python version"},
  {CHECK_SKOPS, "--skops", NULL, "V", "the skops version"},
  {CHECK_JSON, "--json", NULL, NULL, "print the compat.json document of each file"},
  {0, NULL, NULL, NULL, NULL},
};

const ExitSpec check_exits[] = {
  {COMPAT_LOADS, "loads"},
  {COMPAT_WARNS, "loads with warnings"},
  {COMPAT_FAILS, "fails"},
  {COMPAT_UNREADABLE, "unreadable"},
  {CHECK_USAGE, "usage error"},
  {0, NULL},
};

static const char *const check_libs[] = {NULL, NULL, "sklearn", "numpy", "python", "skops"};

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

/* A file check cannot look at: its reason, no facts (there are none to print). */
static int unreadable(const char *file, const char *why, int as_json) {
  if (as_json) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "file", file);
    cJSON_AddStringToObject(o, "verdict", "unreadable");
    cJSON_AddStringToObject(o, "error", why);
    char *t = cJSON_Print(o);
    if (t) puts(t);
    free(t);
    cJSON_Delete(o);
  } else {
    printf("%s: unreadable\n  error: %s\n", file, why);
  }
  return COMPAT_UNREADABLE;
}

static int check_one(const char *file, const char *target, int as_json) {
  Ident id;
  identify_path(file, &id);
  if (id.kind == IDENT_UNREADABLE) return unreadable(file, id.what, as_json);
  if (!ident_is_model(&id)) {   /* listed, as scan lists it, and not a failure */
    if (as_json) {
      cJSON *o = cJSON_CreateObject();
      cJSON_AddStringToObject(o, "file", file);
      cJSON_AddStringToObject(o, "verdict", "not-model");
      cJSON_AddStringToObject(o, "note", id.what);
      char *t = cJSON_Print(o);
      if (t) puts(t);
      free(t);
      cJSON_Delete(o);
    } else {
      printf("%s: not a model (%s)\n", file, id.what);
    }
    return COMPAT_LOADS;
  }
  Model *m = model_decode(file);
  if (m == NULL) {
    fprintf(stderr, "modelfs check: %s: out of memory\n", file);
    return COMPAT_UNREADABLE;
  }
  if (!m->ok && m->root == NULL) {   /* nothing decoded: nothing to say it needs */
    int v = unreadable(file, m->err.msg[0] ? m->err.msg : err_code_name(m->err.code), as_json);
    model_free(m);
    return v;
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

/* "sklearn=1.5" added to the target, once checked.  0 or the usage status. */
static int take_version(const CliCmd *cmd, char *target, int id, const char *ver) {
  char item[TARGET_MAX], why[160];
  snprintf(item, sizeof item, "%s=%s", check_libs[id], ver);
  if (compat_target_check(item, why, sizeof why) != 0)
    return cli_usage_error(cmd, "--%s %s: %s (want digits and dots: --%s 1.5 or 1.5.2)",
                           check_libs[id], ver, why, check_libs[id]);
  if (add_target(target, check_libs[id], ver) == 0) return 0;
  return cli_usage_error(cmd, "--%s %s: too long", check_libs[id], ver);
}

typedef struct CheckRun {
  const char *target;
  int as_json, worst;
} CheckRun;

static void check_walked(void *ctx, const char *path, const char *error) {
  CheckRun *run = ctx;
  int v = error ? unreadable(path, error, run->as_json) : check_one(path, run->target, run->as_json);
  if (v > run->worst) run->worst = v;
}

int compat_cli_check(int argc, char **argv) {
  const CliCmd *cmd = cli_command("check");
  char target[TARGET_MAX] = "";
  int as_json = 0, worst = 0, nfiles = 0, id;
  const char **files = calloc(argc > 0 ? (size_t)argc : 1, sizeof *files);
  if (files == NULL) return COMPAT_UNREADABLE;
  CliArgs a;
  cli_args_init(&a, cmd, argc, argv);
  const char *val;
  int status = 0;
  while (status == 0 && (id = cli_next(&a, &val)) != CLI_END) {
    if (id == CLI_BAD) status = CHECK_USAGE;
    else if (id == CLI_HELP) cli_help_command(cmd, stdout), status = -1;
    else if (id == CLI_OPERAND) files[nfiles++] = val;
    else if (id == CHECK_JSON) as_json = 1;
    else status = take_version(cmd, target, id, val);
  }
  if (status == 0 && nfiles == 0) status = cli_usage_error(cmd, "no FILE given");
  for (int i = 0; status == 0 && i < nfiles; i++) {
    CheckRun run = {target, as_json, worst};
    walk_path(files[i], check_walked, &run);   /* a directory: every file in it, as scan does */
    worst = run.worst;
  }
  free(files);
  fflush(stdout);
  return status < 0 ? 0 : status ? status : worst;
}
