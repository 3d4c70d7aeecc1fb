/*
** scan.c -- `modelfs scan FILE|DIR...`: one verdict per model, for CI pipelines.
**
** Decodes each model (never renders it), judges the globals it references with
** trust.h and prints one line (or one JSON object) per model.  It must never
** execute anything from a file, never follow a symbolic link to a directory while
** recursing (loops), and never call a model that failed to decode fully "safe"
** (anchor 15: picklescan answers "clean" for files it could not parse).
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "modelfs/commands.h"
#include "modelfs/decode.h"
#include "modelfs/identify.h"
#include "modelfs/limits.h"
#include "modelfs/judge.h"
#include "modelfs/mount.h"
#include "modelfs/render.h"
#include "modelfs/scan.h"
#include "modelfs/trust.h"
#include "modelfs/walk.h"

/* SC_NOT_MODEL: listed (every regular file is), never a failure. */
typedef enum ScanClass { SC_NOT_MODEL, SC_SAFE, SC_UNTRUSTED, SC_INCOMPLETE, SC_UNREADABLE,
                         SC_DANGEROUS } ScanClass;

typedef enum ScanFormat { SF_TEXT, SF_JSON, SF_SARIF } ScanFormat;

typedef struct Scan {
  TrustList *trust;
  int json;                /* the format is SF_JSON */
  ScanFormat format;
  int where;               /* --where: the tree paths of each flagged global */
  ScanClass fail_on;       /* the least class that makes the exit status nonzero */
  size_t nmodels;          /* files reported so far, models or not */
  int seen[SC_DANGEROUS + 1];
  size_t nresults;         /* SARIF results written so far */
} Scan;

/* What one model gave: the names are strings in the model's arena (or static). */
typedef struct Verdict {
  ScanClass cls;
  const char *verdict;
  const char *format;
  const char *compression;
  const char *error;       /* NULL when the model decoded fully */
  const char *note;        /* not-model: what the bytes are ("text", "joblib companion of X") */
  const char **untrusted;  /* sorted, unique */
  size_t nuntrusted;
  const char **dangerous;  /* subset of untrusted that can run code */
  size_t ndangerous;
  const char **hazards;    /* constructs that run code whatever the names */
  size_t nhazards;
  const WhereEntry *where; /* --where / SARIF: paths per flagged global (render.h) */
  size_t nwhere;
} Verdict;

/* ---- output ------------------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when invalid. */
static size_t utf8_len(const unsigned char *s, size_t n) {
  size_t k;
  unsigned int cp;
  if (s[0] < 0x80) return 1;
  if (s[0] >= 0xc2 && s[0] <= 0xdf) k = 2, cp = s[0] & 0x1f;
  else if (s[0] >= 0xe0 && s[0] <= 0xef) k = 3, cp = s[0] & 0x0f;
  else if (s[0] >= 0xf0 && s[0] <= 0xf4) k = 4, cp = s[0] & 0x07;
  else return 0;
  if (n < k) return 0;
  for (size_t i = 1; i < k; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (s[i] & 0x3f);
  }
  if ((k == 3 && cp < 0x800) || (k == 4 && (cp < 0x10000 || cp > 0x10ffff))) return 0;
  if (cp >= 0xd800 && cp <= 0xdfff) return 0;
  return k;
}

/* A JSON string; bytes that are not UTF-8 (paths and names are attacker data)
** become U+FFFD so the document always parses. */
static void json_str(FILE *out, const char *s) {
  const unsigned char *p = (const unsigned char *)(s ? s : "");
  size_t n = strlen((const char *)p);
  fputc('"', out);
  for (size_t i = 0; i < n;) {
    unsigned char c = p[i];
    if (c == '"' || c == '\\') fprintf(out, "\\%c", c), i++;
    else if (c == '\n') fputs("\\n", out), i++;
    else if (c == '\t') fputs("\\t", out), i++;
    else if (c < 0x20 || c == 0x7f) fprintf(out, "\\u%04x", c), i++;
    else {
      size_t k = utf8_len(p + i, n - i);
      if (k == 0) fputs("\\ufffd", out), i++;
      else fwrite(p + i, 1, k, out), i += k;
    }
  }
  fputc('"', out);
}

static void json_list(FILE *out, const char *const *v, size_t n) {
  fputc('[', out);
  for (size_t i = 0; i < n; i++) {
    if (i) fputs(", ", out);
    json_str(out, v[i]);
  }
  fputc(']', out);
}

/* Plain text: one line per model whatever the names hold, so control bytes,
** backslashes and the separators are escaped. */
static void text_str(FILE *out, const char *s, int in_list) {
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '\\') fputs("\\\\", out);
    else if (*p < 0x20 || *p == 0x7f || (in_list && *p == ',')) fprintf(out, "\\x%02x", *p);
    else fputc(*p, out);
  }
}

/* --where in JSON: {"global": ["path", ...], ...}. */
static void json_where(FILE *out, const Verdict *v) {
  fputc('{', out);
  for (size_t i = 0; i < v->nwhere; i++) {
    if (i) fputs(", ", out);
    json_str(out, v->where[i].global);
    fputs(": ", out);
    json_list(out, v->where[i].paths, v->where[i].npaths);
  }
  fputc('}', out);
}

static void report_json(Scan *sc, const char *path, const Verdict *v, FILE *out) {
  fputs(sc->nmodels ? ",\n  {" : "[\n  {", out);
  fputs("\"path\": ", out), json_str(out, path);
  fputs(", \"verdict\": ", out), json_str(out, v->verdict);
  fputs(", \"status\": ", out), json_str(out, v->error ? "error" : "ok");
  fputs(", \"error\": ", out);
  if (v->error) json_str(out, v->error);
  else fputs("null", out);
  fputs(", \"format\": ", out);
  if (v->format) json_str(out, v->format);
  else fputs("null", out);
  fputs(", \"compression\": ", out);
  if (v->compression) json_str(out, v->compression);
  else fputs("null", out);
  if (v->note) fputs(", \"note\": ", out), json_str(out, v->note);
  fputs(", \"untrusted\": ", out), json_list(out, v->untrusted, v->nuntrusted);
  fputs(", \"dangerous\": ", out), json_list(out, v->dangerous, v->ndangerous);
  fputs(", \"hazards\": ", out), json_list(out, v->hazards, v->nhazards);
  if (sc->where) fputs(", \"where\": ", out), json_where(out, v);
  fputc('}', out);
}

/* Text: the model's line, then with --where one line per flagged global
** ("\twhere\tGLOBAL\tPATH,PATH" or "-") and per hazard ("\thazard\tTEXT"). */
static void report_text(Scan *sc, const char *path, const Verdict *v, FILE *out) {
  text_str(out, path, 0);
  fprintf(out, "\t%s\t", v->verdict);
  if (v->nuntrusted == 0) fputc('-', out);
  for (size_t i = 0; i < v->nuntrusted; i++) {
    if (i) fputc(',', out);
    text_str(out, v->untrusted[i], 1);
  }
  if (v->error) fputs("\terror: ", out), text_str(out, v->error, 0);
  if (v->note) fputs("\t", out), text_str(out, v->note, 0);
  fputc('\n', out);
  if (!sc->where) return;
  for (size_t i = 0; i < v->nwhere; i++) {
    fputs("\twhere\t", out);
    text_str(out, v->where[i].global, 0);
    fputc('\t', out);
    if (v->where[i].npaths == 0) fputc('-', out);
    for (size_t k = 0; k < v->where[i].npaths; k++) {
      if (k) fputc(',', out);
      text_str(out, v->where[i].paths[k], 1);
    }
    fputc('\n', out);
  }
  for (size_t i = 0; i < v->nhazards; i++) {
    fputs("\thazard\t", out);
    text_str(out, v->hazards[i], 0);
    fputc('\n', out);
  }
}

/* ---- SARIF 2.1.0 ------------------------------------------------------------------ */

/* Rules, in the order of the driver's rules array (ruleIndex). */
enum { R_DANGEROUS, R_HAZARD, R_UNTRUSTED, R_INCOMPLETE, R_UNREADABLE };
static const struct { const char *id, *name, *level, *text; } rules[] = {
  {"MFS001", "DangerousGlobal", "error",
   "The file references a global that can run code or touch the system when it is loaded."},
  {"MFS002", "CodeRunningConstruct", "error",
   "The file computes a global or rewrites a module or class while it is loaded."},
  {"MFS003", "UntrustedGlobal", "warning",
   "The file references a global outside the trust list (skops's defaults and plumbing)."},
  {"MFS004", "IncompleteFile", "error",
   "The file could not be decoded to its end: what follows the fault was not judged."},
  {"MFS005", "UnreadableFile", "error", "The file could not be read."},
};

/* A relative URI reference for a path: unreserved bytes and '/' as they are,
** everything else percent-encoded (UTF-8 bytes); absolute paths as file:// URIs. */
static void json_uri(FILE *out, const char *path) {
  fputc('"', out);
  if (path[0] == '/') fputs("file://", out);
  for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
    if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
        strchr("-._~/", *p) != NULL)
      fputc(*p, out);
    else
      fprintf(out, "%%%02X", *p);
  }
  fputc('"', out);
}

static void sarif_begin(FILE *out) {
  fputs("{\n  \"$schema\": \"https://json.schemastore.org/sarif-2.1.0.json\",\n"
        "  \"version\": \"2.1.0\",\n  \"runs\": [\n    {\n      \"tool\": {\"driver\": {"
        "\"name\": \"modelfs\", \"semanticVersion\": " , out);
  json_str(out, MODELFS_VERSION);
  fputs(", \"rules\": [", out);
  for (size_t i = 0; i < sizeof rules / sizeof *rules; i++) {
    fputs(i ? ",\n        " : "\n        ", out);
    fputs("{\"id\": ", out), json_str(out, rules[i].id);
    fputs(", \"name\": ", out), json_str(out, rules[i].name);
    fputs(", \"shortDescription\": {\"text\": ", out), json_str(out, rules[i].text);
    fputs("}, \"defaultConfiguration\": {\"level\": ", out), json_str(out, rules[i].level);
    fputs("}}", out);
  }
  fputs("]}},\n      \"results\": [", out);
}

static void sarif_end(FILE *out) { fputs("\n      ]\n    }\n  ]\n}\n", out); }

/* One result: rule, message, the file, and the tree paths as logical locations. */
static void sarif_result(Scan *sc, FILE *out, int rule, const char *path, const char *msg,
                         const WhereEntry *w) {
  fputs(sc->nresults++ ? ",\n        {" : "\n        {", out);
  fprintf(out, "\"ruleId\": \"%s\", \"ruleIndex\": %d, \"level\": \"%s\", \"message\": {\"text\": ",
          rules[rule].id, rule, rules[rule].level);
  json_str(out, msg);
  fputs("}, \"locations\": [{\"physicalLocation\": {\"artifactLocation\": {\"uri\": ", out);
  json_uri(out, path);
  fputs("}}", out);
  if (w != NULL && w->npaths > 0) {
    fputs(", \"logicalLocations\": [", out);
    for (size_t k = 0; k < w->npaths; k++) {
      if (k) fputs(", ", out);
      fputs("{\"fullyQualifiedName\": ", out), json_str(out, w->paths[k]);
      fputs(", \"kind\": \"member\"}", out);
    }
    fputc(']', out);
  }
  fputs("}]}", out);
}

static void report_sarif(Scan *sc, const char *path, const Verdict *v, FILE *out) {
  char msg[1024];
  for (size_t i = 0; i < v->nwhere; i++) {
    const WhereEntry *w = &v->where[i];
    snprintf(msg, sizeof msg, w->dangerous ? "%s references %s, which can run code or touch "
             "the system when the file is loaded" : "%s references %s, which is not trusted",
             path, w->global);
    sarif_result(sc, out, w->dangerous ? R_DANGEROUS : R_UNTRUSTED, path, msg, w);
  }
  for (size_t i = 0; i < v->nhazards; i++) {
    snprintf(msg, sizeof msg, "%s: %s", path, v->hazards[i]);
    sarif_result(sc, out, R_HAZARD, path, msg, NULL);
  }
  if (v->error != NULL && (v->cls == SC_INCOMPLETE || v->cls == SC_UNREADABLE ||
                           v->cls == SC_DANGEROUS)) {
    snprintf(msg, sizeof msg, "%s: %s", path, v->error);
    sarif_result(sc, out, v->cls == SC_UNREADABLE ? R_UNREADABLE : R_INCOMPLETE, path, msg, NULL);
  }
}

static void report(Scan *sc, const char *path, const Verdict *v) {
  FILE *out = stdout;
  sc->seen[v->cls]++;
  if (sc->format == SF_JSON) report_json(sc, path, v, out);
  else if (sc->format == SF_SARIF) report_sarif(sc, path, v, out);
  else report_text(sc, path, v, out);
  sc->nmodels++;
}

/* ---- judging one model -------------------------------------------------------- */

/* The verdict meta.json gives (SPEC 5, judge.c), then anchor 15: a model that did
** not decode fully is "incomplete" unless something dangerous was already seen. */
static MfsStatus judge(Scan *sc, Model *m, Verdict *v) {
  Judgement j;
  if (judge_model(m, sc->trust, m->vs.arena, &j) != MFS_OK) return MFS_ENOMEM;
  v->untrusted = j.untrusted;
  v->nuntrusted = j.nuntrusted;
  v->dangerous = j.dangerous;
  v->ndangerous = j.ndangerous;
  v->hazards = j.hazards;
  v->nhazards = j.nhazards;
  v->verdict = j.verdict;
  v->format = m->format;
  v->compression = m->compression;
  if (j.ndangerous > 0 || j.nhazards > 0) v->cls = SC_DANGEROUS;
  else if (!m->ok) v->cls = SC_INCOMPLETE;
  else if (j.nuntrusted > 0) v->cls = SC_UNTRUSTED;
  else v->cls = SC_SAFE;
  if (!m->ok) v->error = m->err.msg[0] ? m->err.msg : err_code_name(m->err.code);
  return MFS_OK;
}

static void report_unreadable(Scan *sc, const char *path, const char *why) {
  Verdict v;
  memset(&v, 0, sizeof v);
  v.cls = SC_UNREADABLE;
  v.verdict = "unreadable";
  v.error = why;
  report(sc, path, &v);
}

static void report_not_model(Scan *sc, const char *path, const char *what) {
  Verdict v;
  memset(&v, 0, sizeof v);
  v.cls = SC_NOT_MODEL;
  v.verdict = "not-model";
  v.note = what;
  report(sc, path, &v);
}

static void scan_source(Scan *sc, const char *path, Source *src) {
  Model *m = model_decode_source(src, path);
  if (m == NULL) return report_unreadable(sc, path, "out of memory");
  Verdict v;
  memset(&v, 0, sizeof v);
  RTree *t = NULL;
  MfsStatus st = judge(sc, m, &v);
  if (st == MFS_OK && (sc->where || sc->format == SF_SARIF)) {
    /* the paths are the tree's: lay it out as the mount would */
    t = render_tree(m, sc->trust);
    st = t == NULL ? MFS_ENOMEM : render_where(t, &v.where, &v.nwhere);
  }
  if (st != MFS_OK) report_unreadable(sc, path, "out of memory");
  else report(sc, path, &v);
  render_free(t);
  model_free(m);
}

/* What the file is comes from identify.h, the answer the mount gets too. */
static void scan_file(Scan *sc, const char *path) {
  Err e;
  err_clear(&e);
  Source *src = source_open_file(path, &e);
  if (src == NULL) return report_unreadable(sc, path, e.msg[0] ? e.msg : strerror(errno));
  Ident id;
  identify_path(path, &id);
  if (ident_is_model(&id)) scan_source(sc, path, src);
  else if (id.kind == IDENT_UNREADABLE) report_unreadable(sc, path, id.what);
  else report_not_model(sc, path, id.what);
  source_unref(src);
}

/* ---- the files (walk.c) ------------------------------------------------------- */

static void scan_one(void *ctx, const char *path, const char *error) {
  Scan *sc = ctx;
  if (error) report_unreadable(sc, path, error);
  else scan_file(sc, path);
}

/* ---- command line --------------------------------------------------------------- */

enum { SCAN_OPT_JSON = 1, SCAN_OPT_TRUST, SCAN_OPT_O, SCAN_OPT_FORMAT, SCAN_OPT_WHERE,
       SCAN_OPT_FAIL_ON };

const CliOpt scan_options[] = {
  {SCAN_OPT_JSON, "--json", NULL, NULL, "one JSON array, an object per model (--format json)"},
  {SCAN_OPT_FORMAT, "--format", NULL, "text|json|sarif",
   "text (default), json, or sarif: one SARIF 2.1.0 log for code-scanning dashboards"},
  {SCAN_OPT_WHERE, "--where", NULL, NULL,
   "for each dangerous or untrusted global, the tree paths that use it"},
  {SCAN_OPT_FAIL_ON, "--fail-on", NULL, "dangerous|untrusted",
   "the verdicts that make the exit status nonzero (default untrusted)"},
  {SCAN_OPT_TRUST, "--trust", NULL, "FILE", "also trust the globals listed in FILE (repeatable)"},
  {SCAN_OPT_O, "-o", NULL, "trust=FILE", "the same, in the mount's option syntax"},
  {0, NULL, NULL, NULL, NULL},
};

const ExitSpec scan_exits[] = {
  {SCAN_EXIT_SAFE, "safe (or only untrusted, with --fail-on dangerous)"},
  {SCAN_EXIT_UNTRUSTED, "untrusted"},
  {SCAN_EXIT_DANGEROUS, "dangerous"},
  {SCAN_EXIT_UNREADABLE, "incomplete or unreadable"},
  {SCAN_EXIT_USAGE, "usage error"},
  {0, NULL},
};

static int set_format(Scan *sc, const char *f) {
  if (strcmp(f, "text") == 0) sc->format = SF_TEXT;
  else if (strcmp(f, "json") == 0) sc->format = SF_JSON;
  else if (strcmp(f, "sarif") == 0) sc->format = SF_SARIF;
  else {
    fprintf(stderr, "modelfs scan: unknown format %s (text, json, sarif)\n", f);
    return 0;
  }
  sc->json = sc->format == SF_JSON;
  return 1;
}

static int set_fail_on(Scan *sc, const char *v) {
  if (strcmp(v, "dangerous") == 0) sc->fail_on = SC_DANGEROUS;
  else if (strcmp(v, "untrusted") == 0) sc->fail_on = SC_UNTRUSTED;
  else {
    fprintf(stderr, "modelfs scan: --fail-on takes dangerous or untrusted, not %s\n", v);
    return 0;
  }
  return 1;
}

static int add_trust(Scan *sc, const char *file) {
  Err e;
  err_clear(&e);
  if (trust_add_file(sc->trust, file, &e) == MFS_OK) return 1;
  fprintf(stderr, "modelfs scan: trust file %s: %s\n", file, e.msg[0] ? e.msg : "unreadable");
  return 0;
}

/* "-o trust=A,trust=B" in the FUSE style; other options are refused. */
static int add_o_options(Scan *sc, const char *opts) {
  char *copy = strdup(opts);
  if (copy == NULL) return 0;
  int ok = 1;
  char *save = NULL;
  for (char *o = strtok_r(copy, ",", &save); o && ok; o = strtok_r(NULL, ",", &save)) {
    if (strncmp(o, "trust=", 6) == 0) ok = add_trust(sc, o + 6);
    else fprintf(stderr, "modelfs scan: -o %s: unknown option here (accepted: -o trust=FILE)\n", o), ok = 0;
  }
  free(copy);
  return ok;
}

/* The worst class seen; an untrusted model counts only when --fail-on untrusted
** (the default).  A file not read to its end always fails: it is never "safe". */
static int exit_status(const Scan *sc) {
  if (sc->seen[SC_DANGEROUS]) return SCAN_EXIT_DANGEROUS;
  if (sc->seen[SC_INCOMPLETE] || sc->seen[SC_UNREADABLE]) return SCAN_EXIT_UNREADABLE;
  if (sc->seen[SC_UNTRUSTED] && sc->fail_on <= SC_UNTRUSTED) return SCAN_EXIT_UNTRUSTED;
  return SCAN_EXIT_SAFE;
}

int scan_cli_main(int argc, char **argv) {
  Scan sc;
  memset(&sc, 0, sizeof sc);
  sc.fail_on = SC_UNTRUSTED;
  sc.trust = trust_new_default();
  if (sc.trust == NULL) {
    fputs("modelfs scan: out of memory\n", stderr);
    return SCAN_EXIT_UNREADABLE;
  }
  const CliCmd *cmd = cli_command("scan");
  CliArgs args;
  cli_args_init(&args, cmd, argc, argv);
  int ok = 1, id, help = 0;
  const char *val;
  char **paths = calloc(argc > 0 ? (size_t)argc : 1, sizeof *paths);
  int npaths = 0;
  while (ok && paths && (id = cli_next(&args, &val)) != CLI_END) {
    if (id == CLI_BAD) ok = 0;
    else if (id == CLI_HELP) help = 1, ok = 0;
    else if (id == CLI_OPERAND) paths[npaths++] = (char *)val;
    else if (id == SCAN_OPT_JSON) ok = set_format(&sc, "json");
    else if (id == SCAN_OPT_FORMAT) ok = set_format(&sc, val);
    else if (id == SCAN_OPT_WHERE) sc.where = 1;
    else if (id == SCAN_OPT_FAIL_ON) ok = set_fail_on(&sc, val);
    else if (id == SCAN_OPT_TRUST) ok = add_trust(&sc, val);
    else if (id == SCAN_OPT_O) ok = add_o_options(&sc, val);
  }
  int status;
  if (help) {
    cli_help_command(cmd, stdout);
    status = 0;
  } else if (paths == NULL || !ok) {
    status = SCAN_EXIT_USAGE;
  } else if (npaths == 0) {
    status = cli_usage_error(cmd, "no FILE or DIR given");
  } else {
    if (sc.format == SF_SARIF) sarif_begin(stdout);
    for (int i = 0; i < npaths; i++) walk_path(paths[i], scan_one, &sc);
    if (sc.format == SF_SARIF) sarif_end(stdout);
    else if (sc.json) fputs(sc.nmodels ? "\n]\n" : "[]\n", stdout);
    if (sc.format == SF_TEXT && sc.nmodels == (size_t)sc.seen[SC_NOT_MODEL])
      fputs("modelfs scan: no model files found\n", stderr);
    status = exit_status(&sc);
  }
  fflush(stdout);
  free(paths);
  trust_free(sc.trust);
  return status;
}
