/* Standalone runner with the same contract as `dynlan wren FILE`; used for
 * sanitizer builds and quick iteration. Not part of the Python extension. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wren.h"

static char* read_file(const char* path) {
  FILE* f = fopen(path, "rb");
  if (f == NULL) return NULL;
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  rewind(f);
  if (size < 0) {
    fclose(f);
    return NULL;
  }
  char* buffer = (char*)malloc((size_t)size + 1);
  if (buffer == NULL) {
    fclose(f);
    return NULL;
  }
  size_t n = fread(buffer, 1, (size_t)size, f);
  buffer[n] = '\0';
  fclose(f);
  return buffer;
}

static bool is_relative(const char* name) {
  return strncmp(name, "./", 2) == 0 || strncmp(name, "../", 3) == 0;
}

/* Folds "." and ".." components, keeping a leading "./". */
static char* normalize(const char* path) {
  size_t len = strlen(path);
  char* copy = (char*)malloc(len + 1);
  memcpy(copy, path, len + 1);
  char** parts = (char**)malloc(sizeof(char*) * (len + 1));
  int count = 0;
  bool absolute = path[0] == '/';
  char* save = NULL;
  for (char* tok = strtok_r(copy, "/", &save); tok != NULL; tok = strtok_r(NULL, "/", &save)) {
    if (strcmp(tok, ".") == 0) continue;
    if (strcmp(tok, "..") == 0) {
      if (count > 0 && strcmp(parts[count - 1], "..") != 0) {
        count--;
      } else if (!absolute) {
        parts[count++] = tok;
      }
      continue;
    }
    parts[count++] = tok;
  }
  char* out = (char*)malloc(len + 3);
  out[0] = '\0';
  if (absolute) {
    strcat(out, "/");
  } else if (count == 0 || strcmp(parts[0], "..") != 0) {
    strcat(out, "./");
  }
  for (int i = 0; i < count; i++) {
    if (i > 0) strcat(out, "/");
    strcat(out, parts[i]);
  }
  free(parts);
  free(copy);
  return out;
}

static char* resolve_module(WrenVM* vm, const char* importer, const char* name) {
  if (!is_relative(name)) return wren_alloc_string(vm, name);
  const char* slash = strrchr(importer, '/');
  size_t dirLen = slash != NULL ? (size_t)(slash - importer) : 0;
  size_t total = dirLen + 1 + strlen(name) + 1;
  char* joined = (char*)malloc(total);
  if (slash != NULL) {
    memcpy(joined, importer, dirLen);
    joined[dirLen] = '/';
    strcpy(joined + dirLen + 1, name);
  } else {
    strcpy(joined, name);
  }
  char* normalized = normalize(joined);
  free(joined);
  char* result = wren_alloc_string(vm, normalized);
  free(normalized);
  return result;
}

static char* load_module(WrenVM* vm, const char* name) {
  size_t n = strlen(name);
  char* path = (char*)malloc(n + 6);
  memcpy(path, name, n);
  memcpy(path + n, ".wren", 6);
  char* source = read_file(path);
  free(path);
  if (source == NULL) return NULL;
  char* result = wren_alloc_string(vm, source);
  free(source);
  return result;
}

static void write_fn(WrenVM* vm, const char* text) {
  (void)vm;
  fputs(text, stdout);
}

static void error_fn(WrenVM* vm, WrenErrorType type, const char* module, int line,
                     const char* message) {
  (void)vm;
  switch (type) {
    case WREN_ERROR_COMPILE: fprintf(stderr, "[%s line %d] %s\n", module, line, message); break;
    case WREN_ERROR_RUNTIME: fprintf(stderr, "%s\n", message); break;
    case WREN_ERROR_STACK_TRACE: fprintf(stderr, "[%s line %d] in %s\n", module, line, message); break;
  }
}

/* Runs a paused fiber on until it ends, collecting garbage now and then while it is paused. */
static WrenInterpretResult finish(WrenVM* vm, WrenInterpretResult result) {
  for (long pauses = 1; result == WREN_RESULT_PAUSED; pauses++) {
    WrenHandle* fiber = wren_get_slot_handle(vm, 0);
    if (pauses % 64 == 0) wren_collect_garbage(vm);
    result = wren_resume(vm, fiber);
    wren_release_handle(vm, fiber);
  }
  return result;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "Usage: wren_test FILE\n");
    return 64;
  }
  char* source = read_file(argv[1]);
  if (source == NULL) {
    fprintf(stderr, "Could not open file \"%s\".\n", argv[1]);
    return 66;
  }
  const char* path = argv[1];
  size_t len = strlen(path);
  char* module = (char*)malloc(len + 3);
  module[0] = '\0';
  if (!(path[0] == '/' || strncmp(path, "./", 2) == 0 || strncmp(path, "../", 3) == 0)) {
    strcpy(module, "./");
  }
  strcat(module, path);
  size_t mlen = strlen(module);
  if (mlen > 5 && strcmp(module + mlen - 5, ".wren") == 0) module[mlen - 5] = '\0';

  WrenConfiguration config;
  wren_init_configuration(&config);
  config.writeFn = write_fn;
  config.errorFn = error_fn;
  config.resolveModuleFn = resolve_module;
  config.loadModuleFn = load_module;
  const char* budget = getenv("WREN_BUDGET");
  const char* heap = getenv("WREN_MAX_HEAP");
  if (heap != NULL) config.maxHeapSize = (size_t)strtoull(heap, NULL, 10);
  WrenVM* vm = wren_new_vm(&config);
  if (budget != NULL) wren_set_instruction_budget(vm, strtoll(budget, NULL, 10));
  /* WREN_SLICE: run in slices, as the server does, collecting garbage now
     and then while the fiber is paused. The output must not change. */
  const char* slice = getenv("WREN_SLICE");
  if (slice != NULL) wren_set_slice(vm, strtoll(slice, NULL, 10));
  /* WREN_TEMPLATE=N: compile the file once (a template) and run it N times, each in a fresh module of the
     same name, collecting garbage between runs, as the server runs pages. Each run's output must be the
     file's. */
  const char* runs = getenv("WREN_TEMPLATE");
  WrenInterpretResult result;
  if (runs == NULL) {
    result = finish(vm, wren_interpret(vm, module, source));
  } else {
    WrenHandle* template = wren_compile_template(vm, module, source);
    result = WREN_RESULT_COMPILE_ERROR;
    if (template != NULL) {
      long count = strtol(runs, NULL, 10);
      for (long i = 0; i < count; i++) {
        if (i > 0) {
          wren_remove_module(vm, module);
          wren_collect_garbage(vm);
        }
        result = finish(vm, wren_interpret_template(vm, module, template));
      }
      wren_release_handle(vm, template);
    }
  }
  fflush(stdout);
  wren_free_vm(vm);
  free(module);
  free(source);
  if (result == WREN_RESULT_COMPILE_ERROR) return 65;
  if (result == WREN_RESULT_RUNTIME_ERROR) return 70;
  return 0;
}
