/* The interpreter loop, fibers, modules and the embedding API.
 *
 * Fiber switches never recurse on the C stack: a switching primitive only
 * changes vm->fiber and the loop reloads its registers from the new fiber.
 */
#include <math.h>
#include <stdlib.h>
#include <time.h>

#include "wren_internal.h"

static void* default_reallocate(void* memory, size_t newSize, void* userData) {
  (void)userData;
  if (newSize == 0) {
    free(memory);
    return NULL;
  }
  return realloc(memory, newSize);
}

int wren_get_version_number(void) { return WREN_VERSION_NUMBER; }

void wren_init_configuration(WrenConfiguration* config) {
  memset(config, 0, sizeof *config);
  config->reallocateFn = default_reallocate;
  config->initialHeapSize = 1024 * 1024 * 10;
  config->minHeapSize = 1024 * 1024 * 4;
  config->heapGrowthPercent = 50;
  config->enableOptionalModules = true;
}

double wren_clock_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static WrenInterpretResult run_interpreter(WrenVM* vm, ObjFiber* fiber);

WrenVM* wren_new_vm(const WrenConfiguration* config) {
  WrenConfiguration defaults;
  wren_init_configuration(&defaults);
  if (config == NULL) config = &defaults;
  WrenReallocateFn alloc = config->reallocateFn != NULL ? config->reallocateFn : default_reallocate;
  WrenVM* vm = (WrenVM*)alloc(NULL, sizeof(WrenVM), config->userData);
  if (vm == NULL) return NULL;
  memset(vm, 0, sizeof *vm);
  vm->config = *config;
  vm->config.reallocateFn = alloc;
  vm->usePool = alloc == default_reallocate;
  if (vm->config.heapGrowthPercent <= 0) vm->config.heapGrowthPercent = 50;
  if (vm->config.minHeapSize == 0) vm->config.minHeapSize = 1024 * 1024 * 4;
  if (vm->config.initialHeapSize == 0) vm->config.initialHeapSize = 1024 * 1024 * 10;
  vm->poolMaxBytes = 2 * vm->config.minHeapSize;
  vm->budget = -1;
  vm->slice = -1;
  vm->startClock = wren_clock_seconds();
  wren_symbol_table_init(&vm->methodNames);
  /* No collection while the core library is being built. */
  vm->nextGC = (size_t)-1;
  /* Before the core library is compiled: the compiler emits these calls inline. */
  static const struct {
    const char* signature;
    uint8_t code;
  } fastInfix[] = {{"+(_)", FAST_PLUS}, {"-(_)", FAST_MINUS}, {"*(_)", FAST_MULTIPLY},
                   {"/(_)", FAST_DIVIDE}, {"<(_)", FAST_LT}, {">(_)", FAST_GT},
                   {"<=(_)", FAST_LTE}, {">=(_)", FAST_GTE}, {"==(_)", FAST_EQ},
                   {"!=(_)", FAST_NEQ}, {"[_]", FAST_SUBSCRIPT}, {"iterate(_)", FAST_ITERATE},
                   {"iteratorValue(_)", FAST_ITERATOR_VALUE}, {"%(_)", FAST_MOD},
                   {"add(_)", FAST_ADD_ELEMENT}};
  for (size_t i = 0; i < sizeof fastInfix / sizeof fastInfix[0]; i++) {
    int symbol = wren_method_symbol(vm, fastInfix[i].signature);
    if (symbol < FAST_INFIX_SYMBOLS) vm->fastInfix[symbol] = fastInfix[i].code;
  }
  wren_initialize_core(vm);
  vm->nextGC = vm->config.initialHeapSize;
  if (vm->config.maxHeapSize != 0 && vm->nextGC > vm->config.maxHeapSize) {
    vm->nextGC = vm->config.maxHeapSize;
  }
  vm->symIterate = wren_method_symbol(vm, "iterate(_)");
  vm->symIteratorValue = wren_method_symbol(vm, "iteratorValue(_)");
  vm->symToString = wren_method_symbol(vm, "toString");
  return vm;
}

int wren_free_vm(WrenVM* vm) {
  int live = 0;
  for (WrenHandle* h = vm->handles; h != NULL; h = h->next) live++;
  Obj* obj = vm->first;
  while (obj != NULL) {
    Obj* next = obj->next;
    wren_free_obj(vm, obj);
    obj = next;
  }
  WrenHandle* h = vm->handles;
  while (h != NULL) {
    WrenHandle* next = h->next;
    DEALLOCATE(vm, h, sizeof(WrenHandle));
    h = next;
  }
  wren_symbol_table_free(vm, &vm->methodNames);
  DEALLOCATE(vm, vm->apiStack, sizeof(Value) * (size_t)vm->apiSlotCapacity);
  if (vm->gray != NULL) vm->config.reallocateFn(vm->gray, 0, vm->config.userData);
  wren_pool_free_all(vm);
  vm->config.reallocateFn(vm, 0, vm->config.userData);
  return live;
}

void wren_collect_garbage(WrenVM* vm) { wren_collect(vm); }

int wren_method_symbol(WrenVM* vm, const char* name) {
  return wren_symbol_table_ensure(vm, &vm->methodNames, name, strlen(name));
}

void wren_write(WrenVM* vm, const char* text) {
  if (vm->config.writeFn != NULL) vm->config.writeFn(vm, text);
}

/* ---- modules ---------------------------------------------------------- */

ObjModule* wren_get_module(WrenVM* vm, Value name) {
  if (IS_NULL(name)) return vm->coreModule;
  if (vm->modules == NULL) return NULL;
  Value m = wren_map_get(vm->modules, name);
  if (IS_UNDEFINED(m)) return NULL;
  return AS_MODULE(m);
}

int wren_define_variable(WrenVM* vm, ObjModule* module, const char* name, size_t length,
                         Value value) {
  if (IS_OBJ(value)) wren_push_root(vm, AS_OBJ(value));
  int symbol = wren_symbol_table_find(&module->variableNames, name, length);
  if (symbol == -1) {
    symbol = wren_symbol_table_add(vm, &module->variableNames, name, length);
    wren_buffer_write_value(vm, &module->variables, value);
  } else {
    module->variables.data[symbol] = value;
  }
  if (IS_OBJ(value)) wren_pop_root(vm);
  return symbol;
}

Value wren_find_variable(WrenVM* vm, ObjModule* module, const char* name) {
  (void)vm;
  int symbol = wren_symbol_table_find(&module->variableNames, name, strlen(name));
  if (symbol == -1) return UNDEFINED_VAL;
  return module->variables.data[symbol];
}

static ObjModule* ensure_module(WrenVM* vm, Value name) {
  ObjModule* module = wren_get_module(vm, name);
  if (module != NULL) return module;
  module = wren_new_module(vm, AS_STRING(name));
  wren_push_root(vm, &module->obj);
  if (vm->modules == NULL) vm->modules = wren_new_map(vm);
  wren_map_set(vm, vm->modules, name, OBJ_VAL(module));
  wren_pop_root(vm);
  /* Core's variables are every module's first ones: copied in two blocks, their names shared (strings do not
     change), rather than defined one by one (a search and a new string each, for every module made). */
  ObjModule* core = vm->coreModule;
  int count = core->variables.count;
  if (count > 0) {
    Value* values = (Value*)wren_reallocate(vm, NULL, 0, sizeof(Value) * (size_t)count);
    memcpy(values, core->variables.data, sizeof(Value) * (size_t)count);
    module->variables.data = values;
    module->variables.count = module->variables.capacity = count;
    ObjString** names = (ObjString**)wren_reallocate(vm, NULL, 0, sizeof(ObjString*) * (size_t)count);
    memcpy(names, core->variableNames.data, sizeof(ObjString*) * (size_t)count);
    module->variableNames.data = names;
    module->variableNames.count = module->variableNames.capacity = count;
  }
  return module;
}

static ObjClosure* compile_in_module(WrenVM* vm, Value name, const char* source, bool isExpression,
                                     bool printErrors) {
  ObjModule* module = ensure_module(vm, name);
  ObjFn* fn = wren_compile(vm, module, source, isExpression, printErrors);
  if (fn == NULL) return NULL;
  wren_push_root(vm, &fn->obj);
  ObjClosure* closure = wren_new_closure(vm, fn);
  wren_pop_root(vm);
  return closure;
}

ObjClosure* wren_compile_source(WrenVM* vm, const char* module, const char* source,
                                bool isExpression, bool printErrors) {
  Value name = module == NULL ? NULL_VAL : wren_new_string(vm, module);
  if (IS_OBJ(name)) wren_push_root(vm, AS_OBJ(name));
  ObjClosure* closure = compile_in_module(vm, name, source, isExpression, printErrors);
  if (IS_OBJ(name)) wren_pop_root(vm);
  return closure;
}

void wren_runtime_error_str(WrenVM* vm, const char* message) {
  vm->fiber->error = wren_new_string(vm, message);
}

static void runtime_error_fmt(WrenVM* vm, const char* format, const char* a, const char* b) {
  char buffer[512];
  snprintf(buffer, sizeof buffer, format, a, b);
  wren_runtime_error_str(vm, buffer);
}

static ObjClosure* instantiate_template(WrenVM* vm, Value name, ObjFn* top);

Value wren_import_module(WrenVM* vm, Value name) {
  ObjFiber* fiber = vm->fiber;
  const char* importer = "core";
  if (fiber->numFrames > 0) {
    ObjModule* m = fiber->frames[fiber->numFrames - 1].closure->fn->module;
    if (m != NULL && m->name != NULL) importer = m->name->value;
  }
  Value resolved = name;
  bool builtin = vm->config.enableOptionalModules &&
                 wren_optional_module_source(AS_CSTRING(name)) != NULL;
  if (!builtin && vm->config.resolveModuleFn != NULL) {
    char* canonical = vm->config.resolveModuleFn(vm, importer, AS_CSTRING(name));
    if (canonical == NULL) {
      runtime_error_fmt(vm, "Could not resolve module '%s' imported from '%s'.", AS_CSTRING(name),
                        importer);
      return NULL_VAL;
    }
    resolved = wren_new_string(vm, canonical);
    vm->config.reallocateFn(canonical, 0, vm->config.userData);
  }
  wren_push_root(vm, AS_OBJ(resolved));
  ObjModule* existing = wren_get_module(vm, resolved);
  if (existing != NULL) {
    vm->lastModule = existing;
    wren_pop_root(vm);
    return NULL_VAL;
  }
  const char* source = NULL;
  char* owned = NULL;
  if (vm->config.enableOptionalModules) source = wren_optional_module_source(AS_CSTRING(resolved));
  if (source == NULL && vm->config.loadTemplateFn != NULL) {
    /* A template of the module: a copy of it is imported, without compiling its source again. */
    WrenHandle* template = vm->config.loadTemplateFn(vm, AS_CSTRING(resolved));
    if (template != NULL && IS_FN(template->value)) {
      ObjClosure* copy = instantiate_template(vm, resolved, AS_FN(template->value));
      if (copy != NULL) {
        wren_pop_root(vm);
        return OBJ_VAL(copy);
      }
    }
  }
  if (source == NULL && vm->config.loadModuleFn != NULL) {
    owned = vm->config.loadModuleFn(vm, AS_CSTRING(resolved));
    source = owned;
  }
  if (source == NULL) {
    runtime_error_fmt(vm, "Could not load module '%s'.", AS_CSTRING(resolved), "");
    wren_pop_root(vm);
    return NULL_VAL;
  }
  ObjClosure* closure = compile_in_module(vm, resolved, source, false, true);
  if (owned != NULL) vm->config.reallocateFn(owned, 0, vm->config.userData);
  if (closure == NULL) {
    runtime_error_fmt(vm, "Could not compile module '%s'.", AS_CSTRING(resolved), "");
    wren_pop_root(vm);
    return NULL_VAL;
  }
  wren_pop_root(vm);
  return OBJ_VAL(closure);
}

/* ---- upvalues --------------------------------------------------------- */

static ObjUpvalue* capture_upvalue(WrenVM* vm, ObjFiber* fiber, Value* local) {
  if (fiber->openUpvalues == NULL) {
    fiber->openUpvalues = wren_new_upvalue(vm, local);
    return fiber->openUpvalues;
  }
  ObjUpvalue* prev = NULL;
  ObjUpvalue* u = fiber->openUpvalues;
  while (u != NULL && u->value > local) {
    prev = u;
    u = u->next;
  }
  if (u != NULL && u->value == local) return u;
  ObjUpvalue* created = wren_new_upvalue(vm, local);
  created->next = u;
  if (prev == NULL) {
    fiber->openUpvalues = created;
  } else {
    prev->next = created;
  }
  return created;
}

static void close_upvalues(ObjFiber* fiber, Value* last) {
  while (fiber->openUpvalues != NULL && fiber->openUpvalues->value >= last) {
    ObjUpvalue* u = fiber->openUpvalues;
    u->closed = *u->value;
    u->value = &u->closed;
    fiber->openUpvalues = u->next;
  }
}

/* ---- errors ----------------------------------------------------------- */

static void report_runtime_error(WrenVM* vm, ObjFiber* fiber) {
  if (vm->config.errorFn == NULL) return;
  Value error = fiber->error;
  const char* message = IS_STRING(error) ? AS_CSTRING(error) : "[error object]";
  vm->config.errorFn(vm, WREN_ERROR_RUNTIME, NULL, -1, message);
  /* Deep recursion would print millions of lines: keep both ends. */
  int printed = 0;
  for (int i = fiber->numFrames - 1; i >= 0; i--) {
    if (printed >= 64 && i >= 16) continue;
    CallFrame* frame = &fiber->frames[i];
    ObjFn* fn = frame->closure->fn;
    if (fn->module == NULL || fn->module == vm->coreModule || fn->module->name == NULL) continue;
    int offset = (int)(frame->ip - fn->code.data) - 1;
    if (offset < 0) offset = 0;
    if (offset >= fn->lines.count) offset = fn->lines.count - 1;
    int line = offset >= 0 ? fn->lines.data[offset] : 0;
    vm->config.errorFn(vm, WREN_ERROR_STACK_TRACE, fn->module->name->value, line,
                       fn->name != NULL ? fn->name : "(fn)");
    printed++;
  }
}

static Value method_not_found(WrenVM* vm, ObjClass* classObj, int symbol) {
  return wren_string_format(vm, "@ does not implement '$'.", OBJ_VAL(classObj->name),
                            vm->methodNames.data[symbol]->value);
}

/* ---- classes ---------------------------------------------------------- */

static bool is_builtin_class(WrenVM* vm, ObjClass* c) {
  return c == vm->classClass || c == vm->fiberClass || c == vm->fnClass || c == vm->listClass ||
         c == vm->mapClass || c == vm->rangeClass || c == vm->stringClass ||
         c == vm->boolClass || c == vm->nullClass || c == vm->numClass;
}

/* Stack: [name, superclass] -> [class]. Returns false on error. */
static bool create_class(WrenVM* vm, ObjFiber* fiber, int numFields, ObjModule* module) {
  Value name = fiber->stackTop[-2];
  Value superclass = fiber->stackTop[-1];
  if (!IS_CLASS(superclass)) {
    runtime_error_fmt(vm, "Class '%s' cannot inherit from a non-class object.", AS_CSTRING(name), "");
    return false;
  }
  ObjClass* super = AS_CLASS(superclass);
  if (is_builtin_class(vm, super)) {
    runtime_error_fmt(vm, "Class '%s' cannot inherit from built-in class '%s'.", AS_CSTRING(name),
                      super->name->value);
    return false;
  }
  if (super->isForeign) {
    runtime_error_fmt(vm, "Class '%s' cannot inherit from foreign class '%s'.", AS_CSTRING(name),
                      super->name->value);
    return false;
  }
  if (numFields == -1 && super->numFields > 0) {
    runtime_error_fmt(vm, "Foreign class '%s' may not inherit from a class with fields.",
                      AS_CSTRING(name), "");
    return false;
  }
  if (numFields != -1 && super->numFields + numFields > MAX_FIELDS) {
    runtime_error_fmt(vm, "Class '%s' may not have more than 255 fields, including inherited ones.",
                      AS_CSTRING(name), "");
    return false;
  }
  ObjClass* cls = wren_new_class(vm, super, numFields, AS_STRING(name));
  fiber->stackTop--;
  fiber->stackTop[-1] = OBJ_VAL(cls);
  if (numFields == -1) {
    cls->isForeign = true;
    const char* moduleName = module->name != NULL ? module->name->value : "core";
    WrenForeignClassMethods methods = wren_optional_bind_class(moduleName, cls->name->value);
    if (methods.allocate == NULL && vm->config.bindForeignClassFn != NULL) {
      methods = vm->config.bindForeignClassFn(vm, moduleName, cls->name->value);
    }
    cls->allocate = methods.allocate;
    cls->finalize = methods.finalize;
    cls->allocateTag = methods.tag;
  }
  return true;
}

static bool bind_method(WrenVM* vm, bool isStatic, int symbol, ObjModule* module,
                        ObjClass* classObj, Value methodValue) {
  Method method;
  method.tag = NULL;
  if (IS_STRING(methodValue)) {
    const char* moduleName = module->name != NULL ? module->name->value : "core";
    const char* signature = AS_CSTRING(methodValue);
    WrenForeignMethodFn fn = wren_optional_bind_method(moduleName, classObj->name->value, isStatic,
                                                       signature);
    void* tag = NULL;
    if (fn == NULL && vm->config.bindForeignMethodFn != NULL) {
      WrenForeignMethod fm = vm->config.bindForeignMethodFn(vm, moduleName, classObj->name->value,
                                                            isStatic, signature);
      fn = fm.fn;
      tag = fm.tag;
    }
    if (fn == NULL) {
      char buffer[512];
      snprintf(buffer, sizeof buffer, "Could not find foreign method '%s' for class %s in module '%s'.",
               signature, classObj->name->value, moduleName);
      wren_runtime_error_str(vm, buffer);
      return false;
    }
    method.type = METHOD_FOREIGN;
    method.as.foreign = fn;
    method.tag = tag;
  } else {
    method.type = METHOD_BLOCK;
    method.field = 0;
    method.as.closure = AS_CLOSURE(methodValue);
    ObjFn* body = method.as.closure->fn;
    wren_bind_method_code(isStatic ? classObj->obj.classObj : classObj, body);
    /* After binding, the field numbers in the code are the instance's own. */
    const uint8_t* code = body->code.data;
    if (!isStatic && body->arity == 0 && body->code.count >= 3 && code[0] == OP_LOAD_FIELD_THIS &&
        code[2] == OP_RETURN) {
      method.type = METHOD_FIELD_GETTER;
      method.field = code[1];
    } else if (!isStatic && body->arity == 1 && body->code.count >= 4 && code[0] == OP_LOAD_LOCAL_1 &&
               code[1] == OP_STORE_FIELD_THIS && code[3] == OP_RETURN) {
      method.type = METHOD_FIELD_SETTER;
      method.field = code[2];
    }
  }
  if (isStatic) classObj = classObj->obj.classObj;
  wren_bind_method(vm, classObj, symbol, method);
  return true;
}

#define MIN_SLICE 64

/* ---- API slots -------------------------------------------------------- */

static void ensure_api_capacity(WrenVM* vm, int count) {
  if (count <= vm->apiSlotCapacity) return;
  int cap = vm->apiSlotCapacity < 16 ? 16 : vm->apiSlotCapacity;
  while (cap < count) cap *= 2;
  Value* fresh = ALLOCATE_ARRAY(vm, Value, cap);
  for (int i = 0; i < cap; i++) fresh[i] = NULL_VAL;
  for (int i = 0; i < vm->apiSlotCount; i++) fresh[i] = vm->apiStack[i];
  DEALLOCATE(vm, vm->apiStack, sizeof(Value) * (size_t)vm->apiSlotCapacity);
  vm->apiStack = fresh;
  vm->apiSlotCapacity = cap;
}

static void call_foreign(WrenVM* vm, WrenForeignMethodFn foreign, void* tag, Value* args, int numArgs) {
  ensure_api_capacity(vm, numArgs);
  for (int i = 0; i < numArgs; i++) vm->apiStack[i] = args[i];
  vm->apiSlotCount = numArgs;
  vm->foreignTag = tag;
  foreign(vm);
  args[0] = vm->apiSlotCount > 0 ? vm->apiStack[0] : NULL_VAL;
  vm->apiSlotCount = 0;
}

static void create_foreign(WrenVM* vm, ObjFiber* fiber, Value* stackStart, int arity) {
  ObjClass* cls = AS_CLASS(stackStart[0]);
  (void)fiber;
  if (cls->allocate == NULL) {
    ObjForeign* f = ALLOCATE_FLEX(vm, ObjForeign, 0);
    wren_init_obj(vm, &f->obj, OBJ_FOREIGN, cls);
    f->finalize = NULL;
    f->size = 0;
    stackStart[0] = OBJ_VAL(f);
    return;
  }
  call_foreign(vm, cls->allocate, cls->allocateTag, stackStart, arity + 1);
}

/* ---- the interpreter -------------------------------------------------- */

static bool memory_exceeded(WrenVM* vm) {
  wren_collect(vm);
  if (vm->config.maxHeapSize != 0 && vm->bytesAllocated > vm->config.maxHeapSize) return true;
  vm->memoryExceeded = false;
  return false;
}

static WrenInterpretResult run_interpreter(WrenVM* vm, ObjFiber* fiber) {
  vm->fiber = fiber;
  vm->inInterpreter = true;
  WrenInterpretResult result = WREN_RESULT_SUCCESS;
  /* One counter serves the budget and the slice, whichever ends first. */
  int64_t budgetLeft = vm->budget < 0 ? INT64_MAX : vm->budget;
  bool sliceFirst = vm->slice >= 0 && vm->slice < budgetLeft;
  int64_t start = sliceFirst ? vm->slice : budgetLeft;
  int64_t remaining = start;

  CallFrame* frame;
  Value* stackStart;
  uint8_t* ip;
  ObjFn* fn;
  int instruction;
  int numArgs;
  int symbol;
  Value* args;
  ObjClass* classObj;
  Method* method;
  ObjClosure* closure;
  /* The stack top lives in a register; it is written back (SYNC) before
     anything that may collect garbage or look at the fiber's stack. */
  Value* sp;

#define PUSH(v) (*sp++ = (v))
#define POP() (*(--sp))
#define DROP() (sp--)
#define PEEK() (*(sp - 1))
#define PEEK2() (*(sp - 2))
#define SYNC() (fiber->stackTop = sp)
#define READ_BYTE() (*ip++)
#define READ_SHORT() (ip += 2, (int)((ip[-2] << 8) | ip[-1]))
#define STORE_FRAME() (frame->ip = ip)
#define LOAD_FRAME()                                   \
  do {                                                 \
    frame = &fiber->frames[fiber->numFrames - 1];      \
    stackStart = frame->stackStart;                    \
    ip = frame->ip;                                    \
    fn = frame->closure->fn;                           \
    sp = fiber->stackTop;                              \
  } while (0)
#define RUNTIME_ERROR()  \
  do {                   \
    STORE_FRAME();       \
    SYNC();              \
    goto handle_error;   \
  } while (0)
#define CHECK_MEMORY()                                  \
  do {                                                  \
    if (UNLIKELY(vm->memoryExceeded)) {                 \
      STORE_FRAME();                                    \
      SYNC();                                           \
      if (memory_exceeded(vm)) {                        \
        wren_runtime_error_str(vm, "Out of memory.");   \
        goto handle_error;                              \
      }                                                 \
    }                                                   \
  } while (0)

#if defined(__GNUC__)
#define CALL_LABELS                                                                     \
  &&op_CALL, &&op_CALL, &&op_CALL, &&op_CALL, &&op_CALL, &&op_CALL, &&op_CALL, &&op_CALL, \
      &&op_CALL, &&op_CALL, &&op_CALL, &&op_CALL, &&op_CALL, &&op_CALL, &&op_CALL,        \
      &&op_CALL, &&op_CALL
#define SUPER_LABELS                                                                      \
  &&op_SUPER, &&op_SUPER, &&op_SUPER, &&op_SUPER, &&op_SUPER, &&op_SUPER, &&op_SUPER,      \
      &&op_SUPER, &&op_SUPER, &&op_SUPER, &&op_SUPER, &&op_SUPER, &&op_SUPER, &&op_SUPER,  \
      &&op_SUPER, &&op_SUPER, &&op_SUPER
  static void* dispatchTable[] = {
      &&op_CONSTANT, &&op_NULL, &&op_FALSE, &&op_TRUE, &&op_LOAD_LOCAL_0, &&op_LOAD_LOCAL_1,
      &&op_LOAD_LOCAL_2, &&op_LOAD_LOCAL_3, &&op_LOAD_LOCAL, &&op_STORE_LOCAL,
      &&op_LOAD_UPVALUE, &&op_STORE_UPVALUE, &&op_LOAD_MODULE_VAR, &&op_STORE_MODULE_VAR,
      &&op_LOAD_FIELD_THIS, &&op_STORE_FIELD_THIS, &&op_LOAD_FIELD, &&op_STORE_FIELD, &&op_POP,
      CALL_LABELS, SUPER_LABELS, &&op_JUMP, &&op_LOOP, &&op_JUMP_IF, &&op_AND, &&op_OR,
      &&op_CLOSE_UPVALUE, &&op_RETURN, &&op_CLOSURE, &&op_CONSTRUCT, &&op_FOREIGN_CONSTRUCT,
      &&op_CLASS, &&op_FOREIGN_CLASS, &&op_END_CLASS, &&op_METHOD_INSTANCE, &&op_METHOD_STATIC,
      &&op_END_MODULE, &&op_IMPORT_MODULE, &&op_IMPORT_VARIABLE, &&op_END, &&op_ADD, &&op_SUB,
      &&op_MUL, &&op_DIV, &&op_LT, &&op_GT, &&op_LTE, &&op_GTE, &&op_EQ, &&op_NEQ,
      &&op_SUBSCRIPT, &&op_ITERATE, &&op_ITERATOR_VALUE, &&op_MOD, &&op_ADD_ELEMENT};
#define CASE(name) op_##name
#define DISPATCH()                                      \
  do {                                                  \
    instruction = *ip++;                                \
    goto* dispatchTable[instruction];                   \
  } while (0)
#define INTERPRET_LOOP DISPATCH();
#else
#define CASE(name) case OP_##name
#define DISPATCH() goto loop
#define INTERPRET_LOOP                                  \
  loop:                                                 \
  instruction = *ip++;                                  \
  switch (instruction)
#endif

  LOAD_FRAME();
  INTERPRET_LOOP
  {
    CASE(CONSTANT) : PUSH(fn->constants.data[READ_SHORT()]);
    DISPATCH();
    CASE(NULL) : PUSH(NULL_VAL);
    DISPATCH();
    CASE(FALSE) : PUSH(FALSE_VAL);
    DISPATCH();
    CASE(TRUE) : PUSH(TRUE_VAL);
    DISPATCH();
    CASE(LOAD_LOCAL_0) : PUSH(stackStart[0]);
    DISPATCH();
    CASE(LOAD_LOCAL_1) : PUSH(stackStart[1]);
    DISPATCH();
    CASE(LOAD_LOCAL_2) : PUSH(stackStart[2]);
    DISPATCH();
    CASE(LOAD_LOCAL_3) : PUSH(stackStart[3]);
    DISPATCH();
    CASE(LOAD_LOCAL) : PUSH(stackStart[READ_BYTE()]);
    DISPATCH();
    CASE(STORE_LOCAL) : stackStart[READ_BYTE()] = PEEK();
    DISPATCH();
    CASE(LOAD_UPVALUE) : PUSH(*frame->closure->upvalues[READ_BYTE()]->value);
    DISPATCH();
    CASE(STORE_UPVALUE) : *frame->closure->upvalues[READ_BYTE()]->value = PEEK();
    DISPATCH();
    CASE(LOAD_MODULE_VAR) : PUSH(fn->module->variables.data[READ_SHORT()]);
    DISPATCH();
    CASE(STORE_MODULE_VAR) : fn->module->variables.data[READ_SHORT()] = PEEK();
    DISPATCH();
    CASE(LOAD_FIELD_THIS) : {
      int field = READ_BYTE();
      PUSH(AS_INSTANCE(stackStart[0])->fields[field]);
      DISPATCH();
    }
    CASE(STORE_FIELD_THIS) : {
      int field = READ_BYTE();
      AS_INSTANCE(stackStart[0])->fields[field] = PEEK();
      DISPATCH();
    }
    CASE(LOAD_FIELD) : {
      int field = READ_BYTE();
      Value instance = POP();
      PUSH(AS_INSTANCE(instance)->fields[field]);
      DISPATCH();
    }
    CASE(STORE_FIELD) : {
      int field = READ_BYTE();
      Value instance = POP();
      AS_INSTANCE(instance)->fields[field] = PEEK();
      DISPATCH();
    }
    CASE(POP) : DROP();
    DISPATCH();

    CASE(CALL) : numArgs = instruction - OP_CALL_0 + 1;
    symbol = READ_SHORT();
    args = sp - numArgs;
  call_generic:
    classObj = wren_get_class_inline(vm, args[0]);
    goto complete_call;

    /* Calls of one argument that run inline on their usual receivers: the
       built-in classes' methods cannot be replaced, so the result is the
       primitive's. Each is charged to the budget as the call would be; any
       other receiver or argument (or a budget about to run out) makes the
       call as OP_CALL_1 does, from the same operands. */
    CASE(ADD) : {
      Value a = sp[-2];
      Value b = sp[-1];
      if (LIKELY(IS_NUM(a) && IS_NUM(b) && remaining >= 4)) {
        sp[-2] = NUM_VAL(AS_NUM(a) + AS_NUM(b));
        goto fast_done;
      }
      goto fast_slow;
    }
    CASE(SUB) : {
      Value a = sp[-2];
      Value b = sp[-1];
      if (LIKELY(IS_NUM(a) && IS_NUM(b) && remaining >= 4)) {
        sp[-2] = NUM_VAL(AS_NUM(a) - AS_NUM(b));
        goto fast_done;
      }
      goto fast_slow;
    }
    CASE(MUL) : {
      Value a = sp[-2];
      Value b = sp[-1];
      if (LIKELY(IS_NUM(a) && IS_NUM(b) && remaining >= 4)) {
        sp[-2] = NUM_VAL(AS_NUM(a) * AS_NUM(b));
        goto fast_done;
      }
      goto fast_slow;
    }
    CASE(DIV) : {
      Value a = sp[-2];
      Value b = sp[-1];
      if (LIKELY(IS_NUM(a) && IS_NUM(b) && remaining >= 4)) {
        sp[-2] = NUM_VAL(AS_NUM(a) / AS_NUM(b));
        goto fast_done;
      }
      goto fast_slow;
    }
    CASE(MOD) : {
      Value a = sp[-2];
      Value b = sp[-1];
      if (LIKELY(IS_NUM(a) && IS_NUM(b) && remaining >= 4)) {
        sp[-2] = NUM_VAL(fmod(AS_NUM(a), AS_NUM(b)));
        goto fast_done;
      }
      goto fast_slow;
    }
    CASE(LT) : {
      Value a = sp[-2];
      Value b = sp[-1];
      if (LIKELY(IS_NUM(a) && IS_NUM(b) && remaining >= 4)) {
        sp[-2] = BOOL_VAL(AS_NUM(a) < AS_NUM(b));
        goto fast_done;
      }
      goto fast_slow;
    }
    CASE(GT) : {
      Value a = sp[-2];
      Value b = sp[-1];
      if (LIKELY(IS_NUM(a) && IS_NUM(b) && remaining >= 4)) {
        sp[-2] = BOOL_VAL(AS_NUM(a) > AS_NUM(b));
        goto fast_done;
      }
      goto fast_slow;
    }
    CASE(LTE) : {
      Value a = sp[-2];
      Value b = sp[-1];
      if (LIKELY(IS_NUM(a) && IS_NUM(b) && remaining >= 4)) {
        sp[-2] = BOOL_VAL(AS_NUM(a) <= AS_NUM(b));
        goto fast_done;
      }
      goto fast_slow;
    }
    CASE(GTE) : {
      Value a = sp[-2];
      Value b = sp[-1];
      if (LIKELY(IS_NUM(a) && IS_NUM(b) && remaining >= 4)) {
        sp[-2] = BOOL_VAL(AS_NUM(a) >= AS_NUM(b));
        goto fast_done;
      }
      goto fast_slow;
    }
    CASE(EQ) : CASE(NEQ) : {
      Value a = sp[-2];
      Value b = sp[-1];
      if (UNLIKELY(remaining < 4)) goto fast_slow;
      bool equal;
      if (IS_NUM(a) && IS_NUM(b)) {
        equal = AS_NUM(a) == AS_NUM(b);
      } else if (IS_STRING(a)) {
        equal = IS_STRING(b) && wren_strings_equal(AS_STRING(a), AS_STRING(b));
      } else {
        goto fast_slow;
      }
      sp[-2] = BOOL_VAL(equal == (instruction == OP_EQ));
      goto fast_done;
    }
    CASE(ADD_ELEMENT) : {
      /* list.add(x) while the list has room; growing it (which may collect)
         is the primitive's. */
      Value a = sp[-2];
      if (IS_OBJ(a) && AS_OBJ(a)->type == OBJ_LIST && remaining >= 4) {
        ValueBuffer* elements = &((ObjList*)AS_OBJ(a))->elements;
        if (elements->count < elements->capacity) {
          elements->data[elements->count++] = sp[-1];
          sp[-2] = sp[-1];
          goto fast_done;
        }
      }
      goto fast_slow;
    }
    CASE(SUBSCRIPT) : CASE(ITERATE) : CASE(ITERATOR_VALUE) : {
      /* list[i], and the iteration protocol of lists and ranges: the
         primitives' results for the arguments of a plain `for` loop. */
      Value a = sp[-2];
      Value b = sp[-1];
      if (UNLIKELY(remaining < 4) || !IS_OBJ(a)) goto fast_slow;
      Obj* o = AS_OBJ(a);
      Value r;
      if (o->type == OBJ_LIST) {
        ValueBuffer* elements = &((ObjList*)o)->elements;
        if (instruction == OP_ITERATE) {
          if (IS_NULL(b)) {
            r = elements->count == 0 ? FALSE_VAL : NUM_VAL(0);
          } else {
            if (!IS_NUM(b)) goto fast_slow;
            double i = AS_NUM(b);
            if (!(i >= 0 && i < (double)elements->count && i == (double)(uint32_t)i)) goto fast_slow;
            r = i + 1 < (double)elements->count ? NUM_VAL(i + 1) : FALSE_VAL;
          }
        } else {
          if (!IS_NUM(b)) goto fast_slow;
          double i = AS_NUM(b);
          if (!(i >= 0 && i < (double)elements->count && i == (double)(uint32_t)i)) goto fast_slow;
          r = elements->data[(uint32_t)i];
        }
      } else if (o->type == OBJ_RANGE && instruction != OP_SUBSCRIPT) {
        ObjRange* range = (ObjRange*)o;
        if (instruction == OP_ITERATOR_VALUE) {
          r = b;
        } else if (IS_NULL(b)) {
          r = range->from == range->to && !range->isInclusive ? FALSE_VAL : NUM_VAL(range->from);
        } else {
          if (!IS_NUM(b)) goto fast_slow;
          double it = AS_NUM(b);
          if (range->from < range->to) {
            it++;
            r = it > range->to || (!range->isInclusive && it == range->to) ? FALSE_VAL : NUM_VAL(it);
          } else {
            it--;
            r = it < range->to || (!range->isInclusive && it == range->to) ? FALSE_VAL : NUM_VAL(it);
          }
        }
      } else {
        goto fast_slow;
      }
      sp[-2] = r;
      goto fast_done;
    }
  fast_done:
    sp--;
    ip += 2;
    remaining -= 4;
    DISPATCH();
  fast_slow:
    numArgs = 2;
    symbol = READ_SHORT();
    args = sp - 2;
    goto call_generic;

    CASE(SUPER) : {
      numArgs = instruction - OP_SUPER_0 + 1;
      symbol = READ_SHORT();
      Value super = fn->constants.data[READ_SHORT()];
      args = sp - numArgs;
      if (!IS_CLASS(super)) {
        wren_runtime_error_str(vm, "Superclass is not bound.");
        RUNTIME_ERROR();
      }
      classObj = AS_CLASS(super);
      goto complete_call;
    }

  complete_call:
    /* The budget is charged at calls and backward jumps, which every
       unbounded computation must pass through. */
    remaining -= numArgs + 2;
    SYNC();
    if (UNLIKELY(remaining < 0)) {
      if (!sliceFirst) goto budget_out;
      /* Step back onto the call instruction: resuming runs it afresh. */
      ip -= instruction >= OP_SUPER_0 && instruction <= OP_SUPER_16 ? 5 : 3;
      goto pause;
    }
    if (UNLIKELY(symbol >= classObj->methods.count ||
                 (method = &classObj->methods.data[symbol])->type == METHOD_NONE)) {
      STORE_FRAME();
      fiber->error = method_not_found(vm, classObj, symbol);
      goto handle_error;
    }
    switch (method->type) {
      case METHOD_PRIMITIVE:
        if (LIKELY(method->as.primitive(vm, args))) {
          sp = args + 1;
          DISPATCH();
        }
        STORE_FRAME();
        if (vm->fiber == NULL) {
          result = WREN_RESULT_SUCCESS;
          goto done;
        }
        fiber = vm->fiber;
        if (!IS_NULL(fiber->error)) goto handle_error;
        LOAD_FRAME();
        DISPATCH();
      case METHOD_FUNCTION_CALL:
        closure = AS_CLOSURE(args[0]);
        if (numArgs - 1 < closure->fn->arity) {
          wren_runtime_error_str(vm, "Function expects more arguments.");
          RUNTIME_ERROR();
        }
        sp = args + closure->fn->arity + 1;
        goto call_closure;
      case METHOD_FOREIGN:
        STORE_FRAME();
        call_foreign(vm, method->as.foreign, method->tag, args, numArgs);
        sp = args + 1;
        SYNC();
        if (!IS_NULL(fiber->error)) goto handle_error;
        CHECK_MEMORY();
        DISPATCH();
      case METHOD_BLOCK:
        closure = method->as.closure;
        goto call_closure;
      case METHOD_FIELD_GETTER:
        args[0] = AS_INSTANCE(args[0])->fields[method->field];
        sp = args + 1;
        DISPATCH();
      case METHOD_FIELD_SETTER:
        AS_INSTANCE(args[0])->fields[method->field] = args[1];
        args[0] = args[1];
        sp = args + 1;
        DISPATCH();
      case METHOD_NONE:
        break;
    }
    DISPATCH();

  call_closure:
    STORE_FRAME();
    SYNC();
    CHECK_MEMORY();
    {
      int needed = (int)(args - fiber->stack) + closure->fn->maxSlots + 1;
      if (needed > fiber->stackCapacity) {
        ptrdiff_t offset = args - fiber->stack;
        wren_fiber_ensure_stack(vm, fiber, needed);
        args = fiber->stack + offset;
        sp = fiber->stackTop;
      }
      if (UNLIKELY(fiber->numFrames >= fiber->frameCapacity)) {
        wren_fiber_push_frame(vm, fiber, closure, args);
        frame = &fiber->frames[fiber->numFrames - 1];
      } else {
        frame = &fiber->frames[fiber->numFrames++];
        frame->stackStart = args;
        frame->closure = closure;
        frame->ip = closure->fn->code.data;
      }
    }
    stackStart = frame->stackStart;
    ip = frame->ip;
    fn = closure->fn;
    DISPATCH();

    CASE(JUMP) : {
      int offset = READ_SHORT();
      ip += offset;
      DISPATCH();
    }
    CASE(LOOP) : {
      int offset = READ_SHORT();
      ip -= offset;
      remaining -= offset;
      if (UNLIKELY(remaining < 0)) {
        SYNC();
        if (!sliceFirst) goto budget_out;
        goto pause;
      }
      CHECK_MEMORY();
      DISPATCH();
    }
    CASE(JUMP_IF) : {
      int offset = READ_SHORT();
      Value condition = POP();
      if (IS_FALSY(condition)) ip += offset;
      DISPATCH();
    }
    CASE(AND) : {
      int offset = READ_SHORT();
      if (IS_FALSY(PEEK())) {
        ip += offset;
      } else {
        DROP();
      }
      DISPATCH();
    }
    CASE(OR) : {
      int offset = READ_SHORT();
      if (!IS_FALSY(PEEK())) {
        ip += offset;
      } else {
        DROP();
      }
      DISPATCH();
    }
    CASE(CLOSE_UPVALUE) : close_upvalues(fiber, sp - 1);
    DROP();
    DISPATCH();

    CASE(RETURN) : {
      Value value = POP();
      SYNC();
      fiber->numFrames--;
      if (fiber->openUpvalues != NULL) close_upvalues(fiber, stackStart);
      if (fiber->numFrames == 0) {
        fiber->stackTop = fiber->stack;
        if (fiber->caller == NULL) {
          ensure_api_capacity(vm, 1);
          vm->apiStack[0] = value;
          vm->apiSlotCount = 1;
          fiber->stack[0] = value;
          fiber->stackTop = fiber->stack + 1;
          vm->fiber = NULL;
          result = WREN_RESULT_SUCCESS;
          goto done;
        }
        ObjFiber* resumed = fiber->caller;
        fiber->caller = NULL;
        fiber = resumed;
        vm->fiber = fiber;
        fiber->stackTop[-1] = value;
      } else {
        stackStart[0] = value;
        fiber->stackTop = stackStart + 1;
      }
      LOAD_FRAME();
      DISPATCH();
    }

    CASE(CLOSURE) : {
      ObjFn* inner = AS_FN(fn->constants.data[READ_SHORT()]);
      SYNC();
      ObjClosure* made = wren_new_closure(vm, inner);
      PUSH(OBJ_VAL(made));
      SYNC();
      for (int i = 0; i < inner->numUpvalues; i++) {
        int isLocal = READ_BYTE();
        int index = READ_BYTE();
        if (isLocal) {
          made->upvalues[i] = capture_upvalue(vm, fiber, stackStart + index);
        } else {
          made->upvalues[i] = frame->closure->upvalues[index];
        }
      }
      DISPATCH();
    }

    CASE(CONSTRUCT) : SYNC();
    stackStart[0] = wren_new_instance(vm, AS_CLASS(stackStart[0]));
    DISPATCH();

    CASE(FOREIGN_CONSTRUCT) : STORE_FRAME();
    SYNC();
    create_foreign(vm, fiber, stackStart, fn->arity);
    if (!IS_NULL(fiber->error)) goto handle_error;
    if (!IS_FOREIGN(stackStart[0])) {
      wren_runtime_error_str(vm, "Foreign class allocator did not create an instance.");
      goto handle_error;
    }
    DISPATCH();

    CASE(CLASS) : {
      int numFields = READ_BYTE();
      STORE_FRAME();
      SYNC();
      if (!create_class(vm, fiber, numFields, NULL)) goto handle_error;
      sp = fiber->stackTop;
      DISPATCH();
    }
    CASE(FOREIGN_CLASS) : STORE_FRAME();
    SYNC();
    if (!create_class(vm, fiber, -1, fn->module)) goto handle_error;
    sp = fiber->stackTop;
    DISPATCH();

    CASE(END_CLASS) : {
      Value attributes = POP();
      Value cls = POP();
      if (IS_CLASS(cls)) AS_CLASS(cls)->attributes = attributes;
      DISPATCH();
    }

    CASE(METHOD_INSTANCE) : CASE(METHOD_STATIC) : {
      bool isStatic = instruction == OP_METHOD_STATIC;
      symbol = READ_SHORT();
      Value cls = PEEK();
      Value methodValue = PEEK2();
      STORE_FRAME();
      SYNC();
      if (!IS_CLASS(cls)) {
        wren_runtime_error_str(vm, "Method target is not a class.");
        goto handle_error;
      }
      if (!bind_method(vm, isStatic, symbol, fn->module, AS_CLASS(cls), methodValue)) {
        goto handle_error;
      }
      DROP();
      DROP();
      DISPATCH();
    }

    CASE(END_MODULE) : vm->lastModule = fn->module;
    DISPATCH();

    CASE(IMPORT_MODULE) : {
      Value name = fn->constants.data[READ_SHORT()];
      STORE_FRAME();
      SYNC();
      Value imported = wren_import_module(vm, name);
      if (!IS_NULL(fiber->error)) goto handle_error;
      PUSH(imported);
      if (IS_CLOSURE(imported)) {
        closure = AS_CLOSURE(imported);
        args = sp - 1;
        goto call_closure;
      }
      DISPATCH();
    }

    CASE(IMPORT_VARIABLE) : {
      Value name = fn->constants.data[READ_SHORT()];
      ObjModule* module = vm->lastModule;
      Value value = module != NULL ? wren_find_variable(vm, module, AS_CSTRING(name)) : UNDEFINED_VAL;
      if (IS_UNDEFINED(value)) {
        STORE_FRAME();
        SYNC();
        runtime_error_fmt(vm, "Could not find a variable named '%s' in module '%s'.", AS_CSTRING(name),
                          module != NULL && module->name != NULL ? module->name->value : "core");
        goto handle_error;
      }
      PUSH(value);
      DISPATCH();
    }

    CASE(END) : {
      STORE_FRAME();
      SYNC();
      wren_runtime_error_str(vm, "Reached the end of a function.");
      goto handle_error;
    }
  }

pause:
  STORE_FRAME();
  fiber->paused = true;
  vm->fiber = NULL;
  ensure_api_capacity(vm, 1);
  vm->apiStack[0] = OBJ_VAL(fiber);
  vm->apiSlotCount = 1;
  result = WREN_RESULT_PAUSED;
  goto done;

budget_out:
  STORE_FRAME();
  wren_runtime_error_str(vm, "Instruction budget exhausted.");
  goto handle_error;

handle_error : {
  /* vm->fiber holds the error. Unwind to the nearest try, if any. */
  fiber = vm->fiber;
  ObjFiber* current = fiber;
  Value error = current->error;
  while (current != NULL) {
    current->error = error;
    if (current->state == FIBER_TRY && current->caller != NULL) {
      ObjFiber* caller = current->caller;
      current->caller = NULL;
      current->state = FIBER_OTHER;
      caller->stackTop[-1] = error;
      fiber = caller;
      vm->fiber = fiber;
      LOAD_FRAME();
      DISPATCH();
    }
    ObjFiber* next = current->caller;
    current->caller = NULL;
    current = next;
  }
  report_runtime_error(vm, fiber);
  vm->fiber = NULL;
  vm->apiSlotCount = 0;
  result = WREN_RESULT_RUNTIME_ERROR;
  goto done;
}

done : {
  int64_t executed = start - remaining;
  vm->instructions += (uint64_t)executed;
  if (vm->budget >= 0) vm->budget = vm->budget > executed ? vm->budget - executed : 0;
  vm->inInterpreter = false;
  return result;
}
#undef PUSH
#undef POP
#undef DROP
#undef PEEK
#undef PEEK2
#undef READ_BYTE
#undef READ_SHORT
}

/* Runs a closure as the root of a new fiber. */
static WrenInterpretResult run_closure(WrenVM* vm, ObjClosure* closure) {
  wren_push_root(vm, &closure->obj);
  ObjFiber* fiber = wren_new_fiber(vm, closure);
  fiber->state = FIBER_ROOT;
  wren_pop_root(vm);
  vm->apiSlotCount = 0;
  return run_interpreter(vm, fiber);
}

WrenInterpretResult wren_interpret(WrenVM* vm, const char* module, const char* source) {
  if (vm->inInterpreter) return WREN_RESULT_RUNTIME_ERROR;
  ObjClosure* closure = wren_compile_source(vm, module, source, false, true);
  if (closure == NULL) return WREN_RESULT_COMPILE_ERROR;
  return run_closure(vm, closure);
}

static WrenHandle* make_handle(WrenVM* vm, Value value);

/* ---- templates: a module compiled once, run many times in fresh modules ---- */

/* A copy of `src` (and of the functions it holds as constants) whose module is `module`. Code and constants are
   copied, not shared: binding a method to its class writes into both (field offsets, the superclass). */
static ObjFn* clone_fn(WrenVM* vm, ObjFn* src, ObjModule* module) {
  ObjFn* fn = wren_new_fn(vm, module, src->maxSlots);
  wren_push_root(vm, &fn->obj);
  fn->numUpvalues = src->numUpvalues;
  fn->arity = src->arity;
  fn->isMethod = src->isMethod;
  fn->fieldBase = src->fieldBase;
  if (src->name != NULL) {
    size_t size = strlen(src->name) + 1;
    fn->name = (char*)wren_reallocate(vm, NULL, 0, size);
    memcpy(fn->name, src->name, size);
  }
  if (src->code.count > 0) {
    fn->code.data = ALLOCATE_ARRAY(vm, uint8_t, src->code.count);
    memcpy(fn->code.data, src->code.data, (size_t)src->code.count);
    fn->code.count = fn->code.capacity = src->code.count;
  }
  if (src->lines.count > 0) {
    fn->lines.data = ALLOCATE_ARRAY(vm, int, src->lines.count);
    memcpy(fn->lines.data, src->lines.data, sizeof(int) * (size_t)src->lines.count);
    fn->lines.count = fn->lines.capacity = src->lines.count;
  }
  if (src->constants.count > 0) {
    fn->constants.data = ALLOCATE_ARRAY(vm, Value, src->constants.count);
    fn->constants.capacity = src->constants.count;
    for (int i = 0; i < src->constants.count; i++) {
      Value constant = src->constants.data[i];
      /* Counted as it is filled: a collection while a nested function is copied sees the filled part only. */
      fn->constants.data[i] = IS_FN(constant) ? OBJ_VAL(clone_fn(vm, AS_FN(constant), module)) : constant;
      fn->constants.count = i + 1;
    }
  }
  wren_pop_root(vm);
  return fn;
}

WrenHandle* wren_compile_template(WrenVM* vm, const char* module, const char* source) {
  if (vm->inInterpreter || module == NULL || wren_has_module(vm, module)) return NULL;
  ObjClosure* closure = wren_compile_source(vm, module, source, false, true);
  if (closure != NULL) wren_push_root(vm, &closure->obj);
  /* The template's module is nobody's to import or run: only copies of it are. */
  wren_remove_module(vm, module);
  if (closure == NULL) return NULL;
  WrenHandle* handle = make_handle(vm, OBJ_VAL(closure->fn));
  wren_pop_root(vm);
  return handle;
}

/* A new module named `name` holding a copy of the template `top` (its variables as compiling left them, its
   functions): the closure that runs it, or NULL (the module made is removed) when core's variables are not
   what they were when the template was compiled. */
static ObjClosure* instantiate_template(WrenVM* vm, Value name, ObjFn* top) {
  ObjModule* source = top->module;
  ObjModule* target = ensure_module(vm, name);
  /* The new module starts with core's variables, as the template's did when it was compiled; then come the
     template's own, as compiling left them (the code refers to variables by their place in this list). */
  int base = target->variables.count;
  bool same = base <= source->variables.count;
  for (int i = 0; same && i < base; i++) {
    ObjString* a = target->variableNames.data[i];
    ObjString* b = source->variableNames.data[i];
    same = a == b || (a->length == b->length && memcmp(a->value, b->value, a->length) == 0);
  }
  if (!same) {
    Value removed = wren_map_remove(vm, vm->modules, name);
    if (vm->lastModule != NULL && OBJ_VAL(vm->lastModule) == removed) vm->lastModule = NULL;
    return NULL;
  }
  int count = source->variables.count;
  if (count > base) {
    target->variables.data = (Value*)wren_reallocate(vm, target->variables.data,
                                                     sizeof(Value) * (size_t)target->variables.capacity,
                                                     sizeof(Value) * (size_t)count);
    target->variables.capacity = count;
    memcpy(target->variables.data + base, source->variables.data + base, sizeof(Value) * (size_t)(count - base));
    target->variables.count = count;
    target->variableNames.data = (ObjString**)wren_reallocate(
        vm, target->variableNames.data, sizeof(ObjString*) * (size_t)target->variableNames.capacity,
        sizeof(ObjString*) * (size_t)count);
    target->variableNames.capacity = count;
    memcpy(target->variableNames.data + base, source->variableNames.data + base,
           sizeof(ObjString*) * (size_t)(count - base));
    target->variableNames.count = count;
  }
  ObjFn* fn = clone_fn(vm, top, target);
  wren_push_root(vm, &fn->obj);
  ObjClosure* closure = wren_new_closure(vm, fn);
  wren_pop_root(vm);
  return closure;
}

WrenInterpretResult wren_interpret_template(WrenVM* vm, const char* module, WrenHandle* template) {
  if (vm->inInterpreter || module == NULL || !IS_FN(template->value) || wren_has_module(vm, module)) {
    return WREN_RESULT_RUNTIME_ERROR;
  }
  Value name = wren_new_string(vm, module);
  wren_push_root(vm, AS_OBJ(name));
  ObjClosure* closure = instantiate_template(vm, name, AS_FN(template->value));
  wren_pop_root(vm);
  if (closure == NULL) return WREN_RESULT_RUNTIME_ERROR;
  return run_closure(vm, closure);
}

/* ---- handles ---------------------------------------------------------- */

static WrenHandle* make_handle(WrenVM* vm, Value value) {
  if (IS_OBJ(value)) wren_push_root(vm, AS_OBJ(value));
  WrenHandle* h = ALLOCATE(vm, WrenHandle);
  h->value = value;
  h->prev = NULL;
  h->next = vm->handles;
  if (vm->handles != NULL) vm->handles->prev = h;
  vm->handles = h;
  if (IS_OBJ(value)) wren_pop_root(vm);
  return h;
}

/* Runs a fiber for the API: on success slot 0 holds the result (null if none). */
static WrenInterpretResult run_to_slot0(WrenVM* vm, ObjFiber* fiber) {
  WrenInterpretResult r = run_interpreter(vm, fiber);
  if (r == WREN_RESULT_SUCCESS && vm->apiSlotCount == 0) {
    ensure_api_capacity(vm, 1);
    vm->apiStack[0] = NULL_VAL;
    vm->apiSlotCount = 1;
  }
  return r;
}

WrenHandle* wren_make_call_handle(WrenVM* vm, const char* signature) {
  size_t length = strlen(signature);
  /* Only parameter marks count: names may contain underscores too. */
  int arity = 0;
  size_t start = 0;
  while (start < length && signature[start] != '(' && signature[start] != '[') start++;
  for (size_t i = start; i < length; i++) {
    if (signature[i] == '_') arity++;
  }
  if (arity > MAX_PARAMETERS) arity = MAX_PARAMETERS;
  int symbol = wren_symbol_table_ensure(vm, &vm->methodNames, signature, length);
  ObjFn* fn = wren_new_fn(vm, NULL, arity + 1);
  wren_push_root(vm, &fn->obj);
  uint8_t code[] = {(uint8_t)(OP_CALL_0 + arity), (uint8_t)((symbol >> 8) & 0xff),
                    (uint8_t)(symbol & 0xff), OP_RETURN, OP_END};
  for (size_t i = 0; i < sizeof code; i++) {
    wren_buffer_write_byte(vm, &fn->code, code[i]);
    wren_buffer_write_int(vm, &fn->lines, 0);
  }
  fn->arity = arity;
  fn->name = (char*)wren_reallocate(vm, NULL, 0, length + 1);
  memcpy(fn->name, signature, length + 1);
  ObjClosure* closure = wren_new_closure(vm, fn);
  wren_push_root(vm, &closure->obj);
  WrenHandle* h = make_handle(vm, OBJ_VAL(closure));
  wren_pop_root(vm);
  wren_pop_root(vm);
  return h;
}

WrenInterpretResult wren_call(WrenVM* vm, WrenHandle* method) {
  if (vm->inInterpreter) return WREN_RESULT_RUNTIME_ERROR;
  if (!IS_CLOSURE(method->value)) return WREN_RESULT_RUNTIME_ERROR;
  ObjClosure* closure = AS_CLOSURE(method->value);
  int needed = closure->fn->arity + 1;
  if (vm->apiSlotCount < needed) {
    ensure_api_capacity(vm, needed);
    for (int i = vm->apiSlotCount; i < needed; i++) vm->apiStack[i] = NULL_VAL;
    vm->apiSlotCount = needed;
  }
  ObjFiber* fiber = wren_new_fiber(vm, NULL);
  wren_push_root(vm, &fiber->obj);
  wren_fiber_ensure_stack(vm, fiber, closure->fn->maxSlots + 2);
  for (int i = 0; i < needed; i++) fiber->stack[i] = vm->apiStack[i];
  fiber->stackTop = fiber->stack + needed;
  wren_fiber_push_frame(vm, fiber, closure, fiber->stack);
  fiber->state = FIBER_ROOT;
  wren_pop_root(vm);
  vm->apiSlotCount = 0;
  return run_to_slot0(vm, fiber);
}

WrenInterpretResult wren_resume(WrenVM* vm, WrenHandle* fiber) {
  if (vm->inInterpreter || fiber == NULL || !IS_FIBER(fiber->value)) return WREN_RESULT_RUNTIME_ERROR;
  ObjFiber* f = AS_FIBER(fiber->value);
  if (!f->paused) return WREN_RESULT_RUNTIME_ERROR;
  f->paused = false;
  vm->apiSlotCount = 0;
  return run_to_slot0(vm, f);
}

void wren_release_handle(WrenVM* vm, WrenHandle* handle) {
  if (handle == NULL) return;
  if (vm->handles == handle) vm->handles = handle->next;
  if (handle->prev != NULL) handle->prev->next = handle->next;
  if (handle->next != NULL) handle->next->prev = handle->prev;
  DEALLOCATE(vm, handle, sizeof(WrenHandle));
}

/* ---- slots ------------------------------------------------------------ */

#define SLOT_OK(slot) ((slot) >= 0 && (slot) < vm->apiSlotCount)

int wren_get_slot_count(WrenVM* vm) { return vm->apiSlotCount; }

void wren_ensure_slots(WrenVM* vm, int numSlots) {
  if (numSlots <= vm->apiSlotCount) return;
  ensure_api_capacity(vm, numSlots);
  for (int i = vm->apiSlotCount; i < numSlots; i++) vm->apiStack[i] = NULL_VAL;
  vm->apiSlotCount = numSlots;
}

static Value get_slot(WrenVM* vm, int slot) { return SLOT_OK(slot) ? vm->apiStack[slot] : NULL_VAL; }

static void set_slot(WrenVM* vm, int slot, Value value) {
  if (SLOT_OK(slot)) vm->apiStack[slot] = value;
}

WrenType wren_get_slot_type(WrenVM* vm, int slot) {
  Value v = get_slot(vm, slot);
  if (IS_BOOL(v)) return WREN_TYPE_BOOL;
  if (IS_NUM(v)) return WREN_TYPE_NUM;
  if (IS_FOREIGN(v)) return WREN_TYPE_FOREIGN;
  if (IS_LIST(v)) return WREN_TYPE_LIST;
  if (IS_MAP(v)) return WREN_TYPE_MAP;
  if (IS_NULL(v)) return WREN_TYPE_NULL;
  if (IS_STRING(v)) return WREN_TYPE_STRING;
  return WREN_TYPE_UNKNOWN;
}

bool wren_get_slot_bool(WrenVM* vm, int slot) { return AS_BOOL(get_slot(vm, slot)); }

double wren_get_slot_double(WrenVM* vm, int slot) {
  Value v = get_slot(vm, slot);
  return IS_NUM(v) ? AS_NUM(v) : 0.0;
}

const char* wren_get_slot_bytes(WrenVM* vm, int slot, int* length) {
  Value v = get_slot(vm, slot);
  if (!IS_STRING(v)) {
    *length = 0;
    return NULL;
  }
  *length = (int)AS_STRING(v)->length;
  return AS_CSTRING(v);
}

const char* wren_get_slot_string(WrenVM* vm, int slot) {
  Value v = get_slot(vm, slot);
  return IS_STRING(v) ? AS_CSTRING(v) : NULL;
}

void* wren_get_slot_foreign(WrenVM* vm, int slot) {
  Value v = get_slot(vm, slot);
  return IS_FOREIGN(v) ? AS_FOREIGN(v)->data : NULL;
}

WrenHandle* wren_get_slot_handle(WrenVM* vm, int slot) { return make_handle(vm, get_slot(vm, slot)); }

void wren_set_slot_bool(WrenVM* vm, int slot, bool value) { set_slot(vm, slot, BOOL_VAL(value)); }
void wren_set_slot_double(WrenVM* vm, int slot, double value) { set_slot(vm, slot, NUM_VAL(value)); }
void wren_set_slot_null(WrenVM* vm, int slot) { set_slot(vm, slot, NULL_VAL); }

void wren_set_slot_bytes(WrenVM* vm, int slot, const char* bytes, size_t length) {
  set_slot(vm, slot, wren_new_string_length(vm, bytes, length));
}

void wren_set_slot_string(WrenVM* vm, int slot, const char* text) {
  set_slot(vm, slot, wren_new_string(vm, text));
}

void wren_set_slot_new_list(WrenVM* vm, int slot) { set_slot(vm, slot, OBJ_VAL(wren_new_list(vm, 0))); }
void wren_set_slot_new_map(WrenVM* vm, int slot) { set_slot(vm, slot, OBJ_VAL(wren_new_map(vm))); }

void* wren_set_slot_new_foreign(WrenVM* vm, int slot, int classSlot, size_t size) {
  Value cls = get_slot(vm, classSlot);
  if (!IS_CLASS(cls) || !SLOT_OK(slot)) return NULL;
  ObjForeign* f = ALLOCATE_FLEX(vm, ObjForeign, size);
  wren_init_obj(vm, &f->obj, OBJ_FOREIGN, AS_CLASS(cls));
  f->finalize = AS_CLASS(cls)->finalize;
  f->size = size;
  memset(f->data, 0, size);
  set_slot(vm, slot, OBJ_VAL(f));
  return f->data;
}

void wren_set_slot_handle(WrenVM* vm, int slot, WrenHandle* handle) {
  if (handle != NULL) set_slot(vm, slot, handle->value);
}

int wren_get_list_count(WrenVM* vm, int slot) {
  Value v = get_slot(vm, slot);
  return IS_LIST(v) ? AS_LIST(v)->elements.count : 0;
}

static bool list_index(ObjList* list, int* index, bool forInsert) {
  int count = list->elements.count + (forInsert ? 1 : 0);
  if (*index < 0) *index += count;
  return *index >= 0 && *index < count;
}

void wren_get_list_element(WrenVM* vm, int listSlot, int index, int elementSlot) {
  Value v = get_slot(vm, listSlot);
  if (!IS_LIST(v) || !list_index(AS_LIST(v), &index, false)) {
    set_slot(vm, elementSlot, NULL_VAL);
    return;
  }
  set_slot(vm, elementSlot, AS_LIST(v)->elements.data[index]);
}

void wren_set_list_element(WrenVM* vm, int listSlot, int index, int elementSlot) {
  Value v = get_slot(vm, listSlot);
  if (!IS_LIST(v) || !list_index(AS_LIST(v), &index, false)) return;
  AS_LIST(v)->elements.data[index] = get_slot(vm, elementSlot);
}

void wren_insert_in_list(WrenVM* vm, int listSlot, int index, int elementSlot) {
  Value v = get_slot(vm, listSlot);
  if (!IS_LIST(v) || !list_index(AS_LIST(v), &index, true)) return;
  wren_list_insert(vm, AS_LIST(v), get_slot(vm, elementSlot), index);
}

static bool is_value_type(Value v) {
  return IS_NUM(v) || IS_BOOL(v) || IS_NULL(v) || IS_STRING(v) || IS_RANGE(v) || IS_CLASS(v);
}

int wren_get_map_count(WrenVM* vm, int slot) {
  Value v = get_slot(vm, slot);
  return IS_MAP(v) ? (int)AS_MAP(v)->count : 0;
}

bool wren_get_map_contains_key(WrenVM* vm, int mapSlot, int keySlot) {
  Value m = get_slot(vm, mapSlot);
  Value k = get_slot(vm, keySlot);
  if (!IS_MAP(m) || !is_value_type(k)) return false;
  return !IS_UNDEFINED(wren_map_get(AS_MAP(m), k));
}

void wren_get_map_value(WrenVM* vm, int mapSlot, int keySlot, int valueSlot) {
  Value m = get_slot(vm, mapSlot);
  Value k = get_slot(vm, keySlot);
  Value r = NULL_VAL;
  if (IS_MAP(m) && is_value_type(k)) {
    r = wren_map_get(AS_MAP(m), k);
    if (IS_UNDEFINED(r)) r = NULL_VAL;
  }
  set_slot(vm, valueSlot, r);
}

void wren_set_map_value(WrenVM* vm, int mapSlot, int keySlot, int valueSlot) {
  Value m = get_slot(vm, mapSlot);
  Value k = get_slot(vm, keySlot);
  if (!IS_MAP(m) || !is_value_type(k)) return;
  wren_map_set(vm, AS_MAP(m), k, get_slot(vm, valueSlot));
}

void wren_remove_map_value(WrenVM* vm, int mapSlot, int keySlot, int removedValueSlot) {
  Value m = get_slot(vm, mapSlot);
  Value k = get_slot(vm, keySlot);
  Value r = NULL_VAL;
  if (IS_MAP(m) && is_value_type(k)) r = wren_map_remove(vm, AS_MAP(m), k);
  set_slot(vm, removedValueSlot, r);
}

static ObjModule* module_by_name(WrenVM* vm, const char* name) {
  if (name == NULL || vm->modules == NULL) return NULL;
  Value key = wren_new_string(vm, name);
  return wren_get_module(vm, key);
}

void wren_get_variable(WrenVM* vm, const char* module, const char* name, int slot) {
  ObjModule* m = module_by_name(vm, module);
  Value v = NULL_VAL;
  if (m != NULL) {
    v = wren_find_variable(vm, m, name);
    if (IS_UNDEFINED(v)) v = NULL_VAL;
  }
  set_slot(vm, slot, v);
}

bool wren_has_variable(WrenVM* vm, const char* module, const char* name) {
  ObjModule* m = module_by_name(vm, module);
  return m != NULL && !IS_UNDEFINED(wren_find_variable(vm, m, name));
}

bool wren_has_module(WrenVM* vm, const char* module) { return module_by_name(vm, module) != NULL; }

bool wren_remove_module(WrenVM* vm, const char* module) {
  if (vm->modules == NULL || module == NULL) return false;
  Value key = wren_new_string(vm, module);
  wren_push_root(vm, AS_OBJ(key));
  bool found = !IS_UNDEFINED(wren_map_get(vm->modules, key));
  if (found) {
    Value removed = wren_map_remove(vm, vm->modules, key);
    if (vm->lastModule != NULL && OBJ_VAL(vm->lastModule) == removed) vm->lastModule = NULL;
  }
  wren_pop_root(vm);
  return found;
}

void wren_abort_fiber(WrenVM* vm, int slot) {
  if (vm->fiber == NULL) return;
  vm->fiber->error = get_slot(vm, slot);
  if (IS_NULL(vm->fiber->error)) vm->fiber->error = wren_new_string(vm, "Foreign method aborted.");
}

void* wren_get_user_data(WrenVM* vm) { return vm->config.userData; }
void wren_set_user_data(WrenVM* vm, void* userData) { vm->config.userData = userData; }
void* wren_get_foreign_tag(WrenVM* vm) { return vm->foreignTag; }

char* wren_alloc_string(WrenVM* vm, const char* text) {
  size_t n = strlen(text) + 1;
  char* s = (char*)vm->config.reallocateFn(NULL, n, vm->config.userData);
  if (s != NULL) memcpy(s, text, n);
  return s;
}

void wren_set_instruction_budget(WrenVM* vm, int64_t instructions) { vm->budget = instructions; }
int64_t wren_get_instruction_budget(WrenVM* vm) { return vm->budget; }
/* A call is charged at most MAX_PARAMETERS + 3: a slice longer than that lets
   the call a fiber paused at go through when it resumes. */
void wren_set_slice(WrenVM* vm, int64_t instructions) {
  vm->slice = instructions < 0 ? -1 : instructions < MIN_SLICE ? MIN_SLICE : instructions;
}

void wren_set_max_heap_size(WrenVM* vm, size_t bytes) {
  vm->config.maxHeapSize = bytes;
  vm->memoryExceeded = bytes != 0 && vm->bytesAllocated > bytes;
  if (bytes != 0 && vm->nextGC > bytes) vm->nextGC = bytes;
}

void wren_get_statistics(WrenVM* vm, WrenStatistics* stats) {
  stats->heapBytes = vm->bytesAllocated;
  stats->gcRuns = vm->gcRuns;
  stats->instructions = vm->instructions;
  stats->modules = vm->modules != NULL ? vm->modules->count : 0;
}

WrenInterpretResult wren_run_core_source(WrenVM* vm, const char* source);
WrenInterpretResult wren_run_core_source(WrenVM* vm, const char* source) {
  ObjFn* fn = wren_compile(vm, vm->coreModule, source, false, true);
  if (fn == NULL) return WREN_RESULT_COMPILE_ERROR;
  wren_push_root(vm, &fn->obj);
  ObjClosure* closure = wren_new_closure(vm, fn);
  wren_pop_root(vm);
  return run_closure(vm, closure);
}
