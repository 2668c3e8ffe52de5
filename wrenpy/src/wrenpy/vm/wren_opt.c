/* The optional built-in modules "meta" and "random". */
#include <math.h>
#include <stdlib.h>
#include <time.h>

#include "wren_internal.h"

static const char metaModuleSource[] =
"class Meta {\n"
"  static getModuleVariables(module) {\n"
"    if (!(module is String)) Fiber.abort(\"Module name must be a string.\")\n"
"    var result = getModuleVariables_(module)\n"
"    if (result != null) return result\n"
"    Fiber.abort(\"Could not find a module named '%(module)'.\")\n"
"  }\n"
"\n"
"  static eval(source) {\n"
"    if (!(source is String)) Fiber.abort(\"Source code must be a string.\")\n"
"    var closure = compile_(source, false, true)\n"
"    if (closure == null) Fiber.abort(\"Could not compile source code.\")\n"
"    closure.call()\n"
"  }\n"
"\n"
"  static compileExpression(source) {\n"
"    if (!(source is String)) Fiber.abort(\"Source code must be a string.\")\n"
"    return compile_(source, true, true)\n"
"  }\n"
"\n"
"  static compile(source) {\n"
"    if (!(source is String)) Fiber.abort(\"Source code must be a string.\")\n"
"    return compile_(source, false, true)\n"
"  }\n"
"\n"
"  foreign static compile_(source, isExpression, printErrors)\n"
"  foreign static getModuleVariables_(module)\n"
"}\n";

static const char randomModuleSource[] =
"foreign class Random {\n"
"  construct new() {\n"
"    seed_()\n"
"  }\n"
"\n"
"  construct new(seed) {\n"
"    if (seed is Num) {\n"
"      seed_(seed)\n"
"    } else if (seed is Sequence) {\n"
"      if (seed.isEmpty) Fiber.abort(\"Sequence cannot be empty.\")\n"
"      var seeds = []\n"
"      for (element in seed) {\n"
"        if (!(element is Num)) Fiber.abort(\"Sequence elements must all be numbers.\")\n"
"        seeds.add(element)\n"
"        if (seeds.count == 16) break\n"
"      }\n"
"      var i = 0\n"
"      while (seeds.count < 16) {\n"
"        seeds.add(seeds[i])\n"
"        i = i + 1\n"
"      }\n"
"      seedList_(seeds)\n"
"    } else {\n"
"      Fiber.abort(\"Seed must be a number or a sequence of numbers.\")\n"
"    }\n"
"  }\n"
"\n"
"  foreign seed_()\n"
"  foreign seed_(seed)\n"
"  foreign seedList_(seeds)\n"
"\n"
"  foreign float()\n"
"  float(end) { float() * end }\n"
"  float(start, end) { float() * (end - start) + start }\n"
"\n"
"  foreign int()\n"
"  int(end) { (float() * end).floor }\n"
"  int(start, end) { (float() * (end - start)).floor + start }\n"
"\n"
"  sample(list) {\n"
"    if (list.count == 0) Fiber.abort(\"Not enough elements to sample.\")\n"
"    return list[int(list.count)]\n"
"  }\n"
"\n"
"  sample(list, count) {\n"
"    if (count > list.count) Fiber.abort(\"Not enough elements to sample.\")\n"
"    var copy = list.toList\n"
"    for (i in 0...count) {\n"
"      var j = int(i, copy.count)\n"
"      var t = copy[i]\n"
"      copy[i] = copy[j]\n"
"      copy[j] = t\n"
"    }\n"
"    return count == 0 ? [] : copy[0...count]\n"
"  }\n"
"\n"
"  shuffle(list) {\n"
"    if (list.isEmpty) return\n"
"    for (i in 0...list.count - 1) {\n"
"      var from = int(i, list.count)\n"
"      var temp = list[from]\n"
"      list[from] = list[i]\n"
"      list[i] = temp\n"
"    }\n"
"  }\n"
"}\n";

const char* wren_optional_module_source(const char* name) {
  if (strcmp(name, "meta") == 0) return metaModuleSource;
  if (strcmp(name, "random") == 0) return randomModuleSource;
  return NULL;
}

/* ---- meta ------------------------------------------------------------- */

/* Meta acts for the code that called it: the topmost frame outside the "meta"
   module itself (Meta.compile/eval/getModuleVariables are meta code calling
   the foreign methods; a page may also call compile_ directly). Taking a fixed
   frame instead (the caller's caller) let a page whose method is called from
   the host's prelude or from core (`toString` called by `Response.write` or by
   `List.join`) compile code into those shared modules: it replaced `Fs` in the
   prelude for every later request of every site and read their files. */
static ObjModule* meta_caller_module(WrenVM* vm) {
  ObjFiber* fiber = vm->fiber;
  for (int i = fiber->numFrames - 1; i >= 0; i--) {
    ObjModule* module = fiber->frames[i].closure->fn->module;
    if (module == NULL) continue;
    if (module->name != NULL && strcmp(module->name->value, "meta") == 0) continue;
    return module;
  }
  return NULL;
}

/* Core and the built-in optional modules are shared by every module of the VM
   (every new module starts with core's variables): nothing is compiled into them. */
static bool meta_is_builtin(ObjModule* module) {
  return module->name == NULL || wren_optional_module_source(module->name->value) != NULL;
}

static void meta_compile(WrenVM* vm) {
  ObjModule* module = meta_caller_module(vm);
  Value source = vm->apiStack[1];
  if (module == NULL || meta_is_builtin(module) || !IS_STRING(source)) {
    vm->apiStack[0] = NULL_VAL;
    return;
  }
  bool isExpression = AS_BOOL(vm->apiStack[2]);
  bool printErrors = AS_BOOL(vm->apiStack[3]);
  ObjFn* fn = wren_compile(vm, module, AS_CSTRING(source), isExpression, printErrors);
  if (fn == NULL) {
    vm->apiStack[0] = NULL_VAL;
    return;
  }
  wren_push_root(vm, &fn->obj);
  ObjClosure* closure = wren_new_closure(vm, fn);
  wren_pop_root(vm);
  vm->apiStack[0] = OBJ_VAL(closure);
}

/* The module `name` as the caller sees it: its own module, a built-in one, or
   what an `import` of `name` from the caller would reach (through the host's
   resolver). Other modules are not found: a page must not list the variables
   of another request's page module (`page#N`) or of another site's modules. */
static ObjModule* meta_visible_module(WrenVM* vm, Value name) {
  ObjModule* caller = meta_caller_module(vm);
  if (caller == NULL) return NULL;
  const char* text = AS_CSTRING(name);
  if (caller->name != NULL && strcmp(caller->name->value, text) == 0) return caller;
  if (vm->config.metaOwnModuleOnly) return NULL;
  bool builtin = vm->config.enableOptionalModules && wren_optional_module_source(text) != NULL;
  if (builtin || vm->config.resolveModuleFn == NULL) return wren_get_module(vm, name);
  const char* importer = caller->name != NULL ? caller->name->value : "core";
  char* canonical = vm->config.resolveModuleFn(vm, importer, text);
  if (canonical == NULL) return NULL;
  Value resolved = wren_new_string(vm, canonical);
  vm->config.reallocateFn(canonical, 0, vm->config.userData);
  wren_push_root(vm, AS_OBJ(resolved));
  ObjModule* module = wren_get_module(vm, resolved);
  wren_pop_root(vm);
  return module;
}

static void meta_getModuleVariables(WrenVM* vm) {
  ObjModule* module = IS_STRING(vm->apiStack[1]) ? meta_visible_module(vm, vm->apiStack[1]) : NULL;
  if (module == NULL) {
    vm->apiStack[0] = NULL_VAL;
    return;
  }
  ObjList* names = wren_new_list(vm, module->variableNames.count);
  for (int i = 0; i < module->variableNames.count; i++) {
    names->elements.data[i] = OBJ_VAL(module->variableNames.data[i]);
  }
  vm->apiStack[0] = OBJ_VAL(names);
}

/* ---- random: WELL512a ------------------------------------------------- */

typedef struct {
  uint32_t state[16];
  uint32_t index;
} Well512;

static uint32_t well_next(Well512* w) {
  uint32_t a, b, c, d;
  a = w->state[w->index];
  c = w->state[(w->index + 13) & 15];
  b = a ^ c ^ (a << 16) ^ (c << 15);
  c = w->state[(w->index + 9) & 15];
  c ^= (c >> 11);
  a = w->state[w->index] = b ^ c;
  d = a ^ ((a << 5) & 0xda442d24U);
  w->index = (w->index + 15) & 15;
  a = w->state[w->index];
  w->state[w->index] = a ^ b ^ d ^ (a << 2) ^ (b << 18) ^ (c << 28);
  return w->state[w->index];
}

static void random_allocate(WrenVM* vm) {
  Well512* w = (Well512*)wren_set_slot_new_foreign(vm, 0, 0, sizeof(Well512));
  if (w != NULL) w->index = 0;
}

static Well512* random_self(WrenVM* vm) { return (Well512*)wren_get_slot_foreign(vm, 0); }

static void seed_from(Well512* w, uint32_t seed) {
  for (int i = 0; i < 16; i++) {
    seed = seed * 1103515245u + 12345u + (uint32_t)i;
    w->state[i] = seed ^ (seed >> 16) ^ 0x9e3779b9u * (uint32_t)(i + 1);
  }
  w->index = 0;
}

static void random_seed0(WrenVM* vm) {
  Well512* w = random_self(vm);
  if (w == NULL) return;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  seed_from(w, (uint32_t)ts.tv_sec ^ (uint32_t)ts.tv_nsec ^ (uint32_t)(uintptr_t)w);
}

static void random_seed1(WrenVM* vm) {
  Well512* w = random_self(vm);
  if (w == NULL) return;
  double d = wren_get_slot_double(vm, 1);
  uint64_t bits;
  memcpy(&bits, &d, sizeof bits);
  seed_from(w, (uint32_t)bits ^ (uint32_t)(bits >> 32));
}

static void random_seedList(WrenVM* vm) {
  Well512* w = random_self(vm);
  Value list = vm->apiStack[1];
  if (w == NULL || !IS_LIST(list)) return;
  ObjList* l = AS_LIST(list);
  for (int i = 0; i < 16 && i < l->elements.count; i++) {
    Value v = l->elements.data[i];
    double d = IS_NUM(v) ? AS_NUM(v) : 0;
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    w->state[i] = (uint32_t)bits ^ (uint32_t)(bits >> 32);
  }
  w->index = 0;
}

static void random_float(WrenVM* vm) {
  Well512* w = random_self(vm);
  if (w == NULL) return;
  /* 53 random bits make a double in [0, 1). */
  double result = (double)well_next(w) * (1 << 21);
  result += (double)(well_next(w) & ((1 << 21) - 1));
  result /= 9007199254740992.0;
  wren_set_slot_double(vm, 0, result);
}

static void random_int(WrenVM* vm) {
  Well512* w = random_self(vm);
  if (w == NULL) return;
  wren_set_slot_double(vm, 0, (double)well_next(w));
}

WrenForeignMethodFn wren_optional_bind_method(const char* module, const char* className,
                                              bool isStatic, const char* signature) {
  if (strcmp(module, "meta") == 0 && strcmp(className, "Meta") == 0 && isStatic) {
    if (strcmp(signature, "compile_(_,_,_)") == 0) return meta_compile;
    if (strcmp(signature, "getModuleVariables_(_)") == 0) return meta_getModuleVariables;
  }
  if (strcmp(module, "random") == 0 && strcmp(className, "Random") == 0 && !isStatic) {
    if (strcmp(signature, "seed_()") == 0) return random_seed0;
    if (strcmp(signature, "seed_(_)") == 0) return random_seed1;
    if (strcmp(signature, "seedList_(_)") == 0) return random_seedList;
    if (strcmp(signature, "float()") == 0) return random_float;
    if (strcmp(signature, "int()") == 0) return random_int;
  }
  return NULL;
}

WrenForeignClassMethods wren_optional_bind_class(const char* module, const char* className) {
  WrenForeignClassMethods methods = {NULL, NULL, NULL};
  if (strcmp(module, "random") == 0 && strcmp(className, "Random") == 0) {
    methods.allocate = random_allocate;
  }
  return methods;
}
