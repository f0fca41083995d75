/* test_cli.c -- the real `carematch` binary (CM_CLI_PATH), run with
 * posix_spawn on the instance files of tests/data/instances: exit codes,
 * the answer on stdout or --out, the error JSON on stderr, and an --out
 * file that is never created or clobbered by a failed run. Each test works
 * in its own temporary directory and removes it. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "carematch/version.h"

#include "proc.h"

#define GOOD_DIR CM_TEST_DATA "/instances/good"
#define BAD_DIR CM_TEST_DATA "/instances/bad"

/* ---- helpers ------------------------------------------------------------ */

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "wb");
  cr_assert_not_null(f, "cannot create %s", path);
  fputs(text, f);
  fclose(f);
}

/* Run the CLI with args (NULL-terminated, without argv[0]), stdin from
 * in_path (NULL: /dev/null), stdout to out_to (NULL: captured). */
static cm_test_run_result run_cli_to(const char *dir, const char *in_path,
                                     const char *out_to,
                                     const char *const *args) {
  return cm_test_run(dir, CM_CLI_PATH, in_path, out_to, args);
}

static cm_test_run_result run_cli(const char *dir, const char *in_path,
                                  const char *const *args) {
  return cm_test_run(dir, CM_CLI_PATH, in_path, NULL, args);
}

static void make_dir(char *dir, size_t n) {
  cm_test_mkdir(dir, n, "cli");
}

/* Names in dir, excluding "." and "..": returns the count, the first name
 * (if any) into first. */
static int dir_entries(const char *dir, char *first, size_t n) {
  DIR *d = opendir(dir);
  cr_assert_not_null(d);
  struct dirent *de;
  int count = 0;
  if (first && n)
    first[0] = '\0';
  while ((de = readdir(d))) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
      continue;
    if (count++ == 0 && first)
      snprintf(first, n, "%s", de->d_name);
  }
  closedir(d);
  return count;
}

/* Parse an answer; checks its top-level shape. Returns a new reference. */
static json_t *parse_answer(const char *text, const char *what) {
  json_error_t je;
  json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &je);
  cr_assert_not_null(root, "%s: the answer is not JSON: %s (line %d)", what,
                     je.text, je.line);
  static const char *const keys[] = {"objective",  "exact",       "lower_bound",
                                     "gap",        "assignments", "unassigned",
                                     "components", "timings",     "stats"};
  for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
    cr_assert_not_null(json_object_get(root, keys[i]), "%s: no %s", what,
                       keys[i]);
  cr_assert(json_is_array(json_object_get(root, "assignments")));
  cr_assert(json_is_array(json_object_get(root, "unassigned")));
  cr_assert(json_is_number(json_object_get(root, "objective")));
  return root;
}

/* Check the stderr of a failed run: first line the error JSON with code and
 * field, second line the human message. */
static void expect_error(const char *err_text, const char *code,
                         const char *field, const char *what) {
  const char *nl = strchr(err_text, '\n');
  cr_assert_not_null(nl, "%s: stderr: %s", what, err_text);
  json_error_t je;
  json_t *root = json_loadb(err_text, (size_t)(nl - err_text), 0, &je);
  cr_assert_not_null(root, "%s: first stderr line is not JSON: %s", what,
                     err_text);
  json_t *body = json_object_get(root, "error");
  cr_expect_str_eq(json_string_value(json_object_get(body, "code")), code,
                   "%s: %s", what, err_text);
  if (field)
    cr_expect_str_eq(json_string_value(json_object_get(body, "field")), field,
                     "%s: %s", what, err_text);
  cr_expect(json_is_string(json_object_get(body, "message")));
  cr_expect_eq(strncmp(nl + 1, "carematch: ", 11), 0, "%s: %s", what, err_text);
  json_decref(root);
}

/* ---- command line ------------------------------------------------------- */

Test(cli, version) {
  char dir[512];
  make_dir(dir, sizeof dir);
  const char *const forms[][2] = {{"--version", NULL}, {"-V", NULL}};
  for (int i = 0; i < 2; i++) {
    cm_test_run_result r = run_cli(dir, NULL, forms[i]);
    cr_expect_eq(r.status, 0);
    cr_expect_str_eq(r.out, "carematch " CM_VERSION "\n");
    cr_expect_str_empty(r.err);
    cm_test_run_free(&r);
  }
  cm_test_rmdir(dir);
}

Test(cli, help) {
  char dir[512];
  make_dir(dir, sizeof dir);
  static const char *const flags[] = {"--in",      "--out",    "--deadline-ms",
                                      "--threads", "--pretty", "--help",
                                      "--version", "64",       NULL};
  cm_test_run_result r = run_cli(dir, NULL, (const char *[]){"--help", NULL});
  cr_expect_eq(r.status, 0);
  cr_expect_not_null(strstr(r.out, "usage: carematch solve"));
  for (int i = 0; flags[i]; i++)
    cr_expect_not_null(strstr(r.out, flags[i]), "--help lacks %s", flags[i]);
  cm_test_run_free(&r);
  r = run_cli(dir, NULL, (const char *[]){"solve", "--help", NULL});
  cr_expect_eq(r.status, 0);
  cr_expect_not_null(strstr(r.out, "usage: carematch solve"));
  cm_test_run_free(&r);
  cm_test_rmdir(dir);
}

/* Usage errors exit 64 (EX_USAGE, as carematchd's and carematch_sim's:
 * docs/cli.md) with a message naming the flag. */
Test(cli, usage_errors_exit_64) {
  static const struct {
    const char *args[5];
    const char *want;
  } cases[] = {
      {{NULL}, "no command given"},
      {{"frobnicate", NULL}, "unknown command 'frobnicate'"},
      {{"solve", "--bogus", NULL}, "unknown option '--bogus'"},
      {{"solve", "--in", NULL}, "option '--in' needs a value"},
      {{"solve", "--deadline-ms", "abc", NULL}, "--deadline-ms: 'abc'"},
      {{"solve", "--deadline-ms", "-1", NULL}, "--deadline-ms: '-1'"},
      {{"solve", "--deadline-ms=", NULL}, "--deadline-ms: ''"},
      {{"solve", "--deadline-ms", "nan", NULL}, "--deadline-ms: 'nan'"},
      {{"solve", "--threads", "0", NULL}, "--threads: '0'"},
      {{"solve", "--threads", "65", NULL}, "--threads: '65'"},
      {{"solve", "--threads=two", NULL}, "--threads: 'two'"},
      {{"solve", "--pretty=yes", NULL}, "option '--pretty' takes no value"},
      {{"solve", "extra", NULL}, "no argument 'extra'"},
      {{"solve", "--in", "same.json", "--out=same.json", NULL},
       "--in and --out name the same file"},
      {{"--version", "extra", NULL}, "takes no arguments"},
  };
  char dir[512];
  make_dir(dir, sizeof dir);
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    cm_test_run_result r = run_cli(dir, NULL, cases[i].args);
    cr_expect_eq(r.status, 64, "case %zu: exit %d", i, r.status);
    cr_expect_str_empty(r.out, "case %zu: stdout must stay empty", i);
    cr_expect_eq(strncmp(r.err, "carematch: ", 11), 0, "case %zu: %s", i,
                 r.err);
    cr_expect_not_null(strstr(r.err, cases[i].want), "case %zu: %s", i, r.err);
    cr_expect_not_null(strstr(r.err, "usage:"), "case %zu", i);
    cm_test_run_free(&r);
  }
  cr_expect_eq(dir_entries(dir, NULL, 0), 0, "nothing may be written");
  cm_test_rmdir(dir);
}

/* ---- good instances ----------------------------------------------------- */

Test(cli, solves_every_good_file) {
  DIR *d = opendir(GOOD_DIR);
  cr_assert_not_null(d);
  char dir[512];
  make_dir(dir, sizeof dir);
  struct dirent *de;
  int files = 0;
  while ((de = readdir(d))) {
    size_t l = strlen(de->d_name);
    if (l < 5 || strcmp(de->d_name + l - 5, ".json") != 0)
      continue;
    char in[512];
    snprintf(in, sizeof in, "%s/%s", GOOD_DIR, de->d_name);
    cm_test_run_result r =
        run_cli(dir, NULL, (const char *[]){"solve", "--in", in, NULL});
    cr_expect_eq(r.status, 0, "%s: exit %d: %s", de->d_name, r.status, r.err);
    cr_expect_str_empty(r.err, "%s", de->d_name);
    size_t n = strlen(r.out);
    cr_expect(n > 0 && r.out[n - 1] == '\n', "%s: one line", de->d_name);
    cr_expect_eq(strchr(r.out, '\n'), r.out + n - 1,
                 "%s: compact output is one line", de->d_name);
    json_decref(parse_answer(r.out, de->d_name));
    cm_test_run_free(&r);
    files++;
  }
  closedir(d);
  cr_expect_geq(files, 4);
  cm_test_rmdir(dir);
}

Test(cli, stdin_and_file_give_the_same_answer) {
  char dir[512];
  make_dir(dir, sizeof dir);
  const char *in = GOOD_DIR "/positions.json";
  cm_test_run_result a =
      run_cli(dir, NULL, (const char *[]){"solve", "--in", in, NULL});
  cm_test_run_result b = run_cli(dir, in, (const char *[]){"solve", NULL});
  cm_test_run_result c =
      run_cli(dir, in, (const char *[]){"solve", "--in=-", NULL});
  cr_assert_eq(a.status, 0, "%s", a.err);
  cr_assert_eq(b.status, 0, "%s", b.err);
  cr_assert_eq(c.status, 0, "%s", c.err);
  json_t *ja = parse_answer(a.out, "file"), *jb = parse_answer(b.out, "stdin"),
         *jc = parse_answer(c.out, "stdin -");
  static const char *const stable[] = {"objective", "assignments", "unassigned",
                                       "stats"};
  for (size_t i = 0; i < sizeof stable / sizeof *stable; i++) {
    cr_expect(json_equal(json_object_get(ja, stable[i]),
                         json_object_get(jb, stable[i])),
              "%s differs", stable[i]);
    cr_expect(json_equal(json_object_get(ja, stable[i]),
                         json_object_get(jc, stable[i])),
              "%s differs", stable[i]);
  }
  /* The emergency nurse request goes to the only nurse. */
  json_t *as = json_object_get(ja, "assignments");
  int found = 0;
  for (size_t k = 0; k < json_array_size(as); k++) {
    json_t *v = json_array_get(as, k);
    if (strcmp(json_string_value(json_object_get(v, "request")), "r1") == 0) {
      cr_expect_str_eq(json_string_value(json_object_get(v, "worker")), "w1");
      found = 1;
    }
  }
  cr_expect(found, "r1 must be assigned");
  json_decref(ja);
  json_decref(jb);
  json_decref(jc);
  cm_test_run_free(&a);
  cm_test_run_free(&b);
  cm_test_run_free(&c);
  cm_test_rmdir(dir);
}

/* An input of 1 MiB or more takes the huge-page path of cli_solve.c (a
 * block sized by the file, marked and given back before the decode); from
 * stdin it does not. Both must give the same answer. */
Test(cli, big_file_gives_the_same_answer_as_stdin) {
  char dir[512], big[600];
  make_dir(dir, sizeof dir);
  snprintf(big, sizeof big, "%s/big.json", dir);
  FILE *src = fopen(GOOD_DIR "/positions.json", "rb");
  FILE *dst = fopen(big, "wb");
  cr_assert(src && dst);
  int ch;
  while ((ch = fgetc(src)) != EOF)
    fputc(ch, dst);
  for (int i = 0; i < (3 << 19); i++) /* 1.5 MiB of trailing whitespace */
    fputc(i % 64 ? ' ' : '\n', dst);
  fclose(src);
  cr_assert_eq(fclose(dst), 0);
  cm_test_run_result a =
      run_cli(dir, NULL, (const char *[]){"solve", "--in", big, NULL});
  cm_test_run_result b = run_cli(dir, big, (const char *[]){"solve", NULL});
  /* --threads: one, or three (the decoder's second thread reads a text
   * of 1 MiB or more) */
  cm_test_run_result c =
      run_cli(dir, NULL,
              (const char *[]){"solve", "--threads", "1", "--in", big, NULL});
  cm_test_run_result e = run_cli(
      dir, NULL, (const char *[]){"solve", "--threads=3", "--in", big, NULL});
  cr_assert_eq(a.status, 0, "%s", a.err);
  cr_assert_eq(b.status, 0, "%s", b.err);
  cr_assert_eq(c.status, 0, "%s", c.err);
  cr_assert_eq(e.status, 0, "%s", e.err);
  json_t *ja = parse_answer(a.out, "file"), *jb = parse_answer(b.out, "stdin");
  json_t *jc = parse_answer(c.out, "1 thread"), *je = parse_answer(e.out, "3");
  static const char *const stable[] = {"objective", "assignments", "unassigned",
                                       "stats"};
  for (size_t i = 0; i < sizeof stable / sizeof *stable; i++) {
    cr_expect(json_equal(json_object_get(ja, stable[i]),
                         json_object_get(jb, stable[i])),
              "%s differs", stable[i]);
    cr_expect(json_equal(json_object_get(jc, stable[i]),
                         json_object_get(je, stable[i])),
              "%s differs with threads", stable[i]);
  }
  json_decref(ja);
  json_decref(jb);
  json_decref(jc);
  json_decref(je);
  cm_test_run_free(&a);
  cm_test_run_free(&b);
  cm_test_run_free(&c);
  cm_test_run_free(&e);
  unlink(big);
  cm_test_rmdir(dir);
}

Test(cli, out_file_is_written_and_replaced) {
  char dir[512], out[600], first[256];
  make_dir(dir, sizeof dir);
  snprintf(out, sizeof out, "%s/answer.json", dir);
  write_file(out, "old content\n");
  chmod(out, 0640);
  cm_test_run_result r =
      run_cli(dir, NULL,
              (const char *[]){"solve", "--in", GOOD_DIR "/edges.json", "--out",
                               out, "--pretty", NULL});
  cr_expect_eq(r.status, 0, "%s", r.err);
  cr_expect_str_empty(r.out, "the answer goes to --out only");
  cr_expect_str_empty(r.err);
  char *text = cm_test_slurp(out);
  cr_assert_not_null(text);
  cr_expect_not_null(strstr(text, "\n  \"assignments\": ["), "pretty");
  json_decref(parse_answer(text, "--out"));
  free(text);
  cm_test_run_free(&r);
  cr_expect_eq(dir_entries(dir, first, sizeof first), 1,
               "no temporary file may be left (found %s)", first);
  struct stat st;
  cr_assert_eq(stat(out, &st), 0);
  cr_expect_eq(st.st_mode & 0777, 0640,
               "the old permissions are kept, "
               "not %o",
               st.st_mode & 0777);

  /* A new file gets 0666 & ~umask (not mkstemp's 0600). */
  unlink(out);
  mode_t mask = umask(022);
  r = run_cli(dir, NULL,
              (const char *[]){"solve", "--in", GOOD_DIR "/minimal.json",
                               "--out", out, NULL});
  umask(mask);
  cr_expect_eq(r.status, 0, "%s", r.err);
  cr_assert_eq(stat(out, &st), 0);
  cr_expect_eq(st.st_mode & 0777, 0644, "mode %o", st.st_mode & 0777);
  cm_test_run_free(&r);
  cm_test_rmdir(dir);
}

/* --out through a symbolic link replaces the file it names. */
Test(cli, out_through_symlink) {
  char dir[512], target[600], link[600];
  make_dir(dir, sizeof dir);
  snprintf(target, sizeof target, "%s/target.json", dir);
  snprintf(link, sizeof link, "%s/link.json", dir);
  write_file(target, "old\n");
  cr_assert_eq(symlink("target.json", link), 0);
  cm_test_run_result r =
      run_cli(dir, NULL,
              (const char *[]){"solve", "--in", GOOD_DIR "/minimal.json",
                               "--out", link, NULL});
  cr_expect_eq(r.status, 0, "%s", r.err);
  struct stat st;
  cr_assert_eq(lstat(link, &st), 0);
  cr_expect(S_ISLNK(st.st_mode), "the link must stay a link");
  char *text = cm_test_slurp(target);
  cr_assert_not_null(text);
  json_decref(parse_answer(text, "through a link"));
  free(text);
  cr_expect_eq(dir_entries(dir, NULL, 0), 2);
  cm_test_run_free(&r);
  cm_test_rmdir(dir);
}

/* A special file (here a FIFO in the test directory, never a system device,
 * so that a regression cannot replace one) is written in place. */
Test(cli, special_out_file_is_written_in_place) {
  char dir[512], fifo[600];
  make_dir(dir, sizeof dir);
  snprintf(fifo, sizeof fifo, "%s/answer.fifo", dir);
  cr_assert_eq(mkfifo(fifo, 0600), 0);
  /* Our reader end lets the CLI open the FIFO; the answer (a few hundred
   * bytes) fits in the pipe buffer. */
  int rd = open(fifo, O_RDONLY | O_NONBLOCK);
  cr_assert_geq(rd, 0);
  cm_test_run_result r =
      run_cli(dir, NULL,
              (const char *[]){"solve", "--in", GOOD_DIR "/minimal.json",
                               "--out", fifo, NULL});
  cr_expect_eq(r.status, 0, "%s", r.err);
  char buf[4096];
  ssize_t n = read(rd, buf, sizeof buf - 1);
  close(rd);
  cr_assert_gt(n, 0);
  buf[n] = '\0';
  json_decref(parse_answer(buf, "FIFO"));
  struct stat st;
  cr_assert_eq(lstat(fifo, &st), 0);
  cr_expect(S_ISFIFO(st.st_mode), "the FIFO must not be replaced");
  cr_expect_eq(dir_entries(dir, NULL, 0), 1, "no temporary file");
  cm_test_run_free(&r);
  cm_test_rmdir(dir);
}

/* A write error on stdout (a full device) is exit 74 with io_error. */
Test(cli, full_stdout_exits_74) {
  struct stat st;
  if (stat("/dev/full", &st) != 0 || !S_ISCHR(st.st_mode))
    cr_skip_test("no /dev/full on this system");
  char dir[512];
  make_dir(dir, sizeof dir);
  cm_test_run_result r = run_cli_to(
      dir, NULL, "/dev/full",
      (const char *[]){"solve", "--in", GOOD_DIR "/minimal.json", NULL});
  cr_expect_eq(r.status, 74);
  expect_error(r.err, "io_error", "", "stdout /dev/full");
  cm_test_run_free(&r);
  cm_test_rmdir(dir);
}

Test(cli, deadline_zero_still_answers) {
  char dir[512];
  make_dir(dir, sizeof dir);
  cm_test_run_result r =
      run_cli(dir, NULL,
              (const char *[]){"solve", "--in", GOOD_DIR "/full.json",
                               "--deadline-ms", "0", NULL});
  cr_expect_eq(r.status, 0, "%s", r.err);
  json_decref(parse_answer(r.out, "deadline 0"));
  cm_test_run_free(&r);
  r = run_cli(dir, NULL,
              (const char *[]){"solve", "--in", GOOD_DIR "/full.json",
                               "--deadline-ms=250.5", NULL});
  cr_expect_eq(r.status, 0, "%s", r.err);
  json_decref(parse_answer(r.out, "deadline 250.5"));
  cm_test_run_free(&r);
  cm_test_rmdir(dir);
}

/* ---- bad instances ------------------------------------------------------ */

Test(cli, bad_files_exit_2_and_leave_out_alone) {
  char *tsv = cm_test_slurp(BAD_DIR "/EXPECTED.tsv");
  cr_assert_not_null(tsv);
  char dir[512], out[600], first[256];
  make_dir(dir, sizeof dir);
  snprintf(out, sizeof out, "%s/answer.json", dir);
  int rows = 0;
  for (char *line = strtok(tsv, "\n"); line; line = strtok(NULL, "\n")) {
    if (line[0] == '#')
      continue;
    char *code = strchr(line, '\t');
    cr_assert_not_null(code);
    *code++ = '\0';
    char *field = strchr(code, '\t');
    cr_assert_not_null(field);
    *field++ = '\0';
    char *rest = strchr(field, '\t');
    if (rest)
      *rest = '\0';
    char in[512];
    snprintf(in, sizeof in, "%s/%s", BAD_DIR, line);
    write_file(out, "sentinel\n");
    cm_test_run_result r = run_cli(
        dir, NULL, (const char *[]){"solve", "--in", in, "--out", out, NULL});
    cr_expect_eq(r.status, 2, "%s: exit %d", line, r.status);
    cr_expect_str_empty(r.out, "%s", line);
    expect_error(r.err, code, field, line);
    char *kept = cm_test_slurp(out);
    cr_expect(kept && strcmp(kept, "sentinel\n") == 0, "%s: --out was touched",
              line);
    free(kept);
    cr_expect_eq(dir_entries(dir, first, sizeof first), 1, "%s: stray file %s",
                 line, first);
    cm_test_run_free(&r);
    rows++;
  }
  cr_expect_gt(rows, 40);
  free(tsv);
  cm_test_rmdir(dir);
}

Test(cli, bad_file_does_not_create_out) {
  char dir[512], out[600];
  make_dir(dir, sizeof dir);
  snprintf(out, sizeof out, "%s/answer.json", dir);
  cm_test_run_result r = run_cli(dir, BAD_DIR "/lat_91.json",
                                 (const char *[]){"solve", "--out", out, NULL});
  cr_expect_eq(r.status, 2);
  expect_error(r.err, "out_of_range", "$.workers[1].lat", "stdin");
  cr_expect_neq(access(out, F_OK), 0, "--out must not be created");
  cr_expect_eq(dir_entries(dir, NULL, 0), 0);
  cm_test_run_free(&r);
  cm_test_rmdir(dir);
}

Test(cli, unreadable_input_exits_66) {
  char dir[512], out[600];
  make_dir(dir, sizeof dir);
  snprintf(out, sizeof out, "%s/answer.json", dir);
  cm_test_run_result r =
      run_cli(dir, NULL,
              (const char *[]){"solve", "--in", "/nonexistent/x.json", "--out",
                               out, NULL});
  cr_expect_eq(r.status, 66);
  expect_error(r.err, "io_error", "", "missing input");
  cr_expect_neq(access(out, F_OK), 0);
  cm_test_run_free(&r);
  cm_test_rmdir(dir);
}

Test(cli, unwritable_output_exits_74) {
  char dir[512];
  make_dir(dir, sizeof dir);
  cm_test_run_result r =
      run_cli(dir, NULL,
              (const char *[]){"solve", "--in", GOOD_DIR "/minimal.json",
                               "--out", "/nonexistent/dir/a.json", NULL});
  cr_expect_eq(r.status, 74);
  expect_error(r.err, "io_error", "", "bad output");
  cr_expect_str_empty(r.out);
  cm_test_run_free(&r);
  cm_test_rmdir(dir);
}
