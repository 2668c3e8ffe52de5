/* DynLan's Wren 0.4.0 virtual machine: public embedding interface.
 *
 * A VM has no global state; any number of them may live in one process.
 * Values cross the boundary through "slots", a small array owned by the VM.
 */
#ifndef DYNLAN_WREN_H
#define DYNLAN_WREN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WREN_VERSION_MAJOR 0
#define WREN_VERSION_MINOR 4
#define WREN_VERSION_PATCH 0
#define WREN_VERSION_NUMBER \
  (WREN_VERSION_MAJOR * 1000000 + WREN_VERSION_MINOR * 1000 + WREN_VERSION_PATCH)

typedef struct WrenVM WrenVM;
typedef struct WrenHandle WrenHandle;

/* realloc-style allocator: size 0 frees. */
typedef void* (*WrenReallocateFn)(void* memory, size_t newSize, void* userData);

/* A foreign method. Arguments are in slots (receiver in slot 0); the result
 * goes into slot 0. wren_get_foreign_tag() returns the tag given at binding. */
typedef void (*WrenForeignMethodFn)(WrenVM* vm);
typedef void (*WrenFinalizerFn)(void* data);

/* Returns the canonical module name allocated with wren_alloc_string(), or
 * NULL when the import cannot be resolved. The VM takes ownership. */
typedef char* (*WrenResolveModuleFn)(WrenVM* vm, const char* importer, const char* name);

/* Returns the module source allocated with wren_alloc_string(), or NULL when
 * the module does not exist. The VM takes ownership. */
typedef char* (*WrenLoadModuleFn)(WrenVM* vm, const char* name);

/* Returns a template (wren_compile_template) to import the module from, or NULL to load its source with
 * loadModuleFn. The handle stays the embedder's. */
typedef WrenHandle* (*WrenLoadTemplateFn)(WrenVM* vm, const char* name);

typedef struct {
  WrenForeignMethodFn fn;
  void* tag;
} WrenForeignMethod;

typedef WrenForeignMethod (*WrenBindForeignMethodFn)(WrenVM* vm, const char* module,
                                                     const char* className, bool isStatic,
                                                     const char* signature);

typedef struct {
  WrenForeignMethodFn allocate;
  WrenFinalizerFn finalize;
  void* tag;
} WrenForeignClassMethods;

typedef WrenForeignClassMethods (*WrenBindForeignClassFn)(WrenVM* vm, const char* module,
                                                          const char* className);

typedef void (*WrenWriteFn)(WrenVM* vm, const char* text);

typedef enum {
  WREN_ERROR_COMPILE,
  WREN_ERROR_RUNTIME,
  WREN_ERROR_STACK_TRACE
} WrenErrorType;

typedef void (*WrenErrorFn)(WrenVM* vm, WrenErrorType type, const char* module, int line,
                            const char* message);

typedef struct {
  WrenReallocateFn reallocateFn;
  WrenResolveModuleFn resolveModuleFn;
  WrenLoadModuleFn loadModuleFn;
  /* Asked first, when set: an imported module is then a copy of a template, not compiled again. */
  WrenLoadTemplateFn loadTemplateFn;
  WrenBindForeignMethodFn bindForeignMethodFn;
  WrenBindForeignClassFn bindForeignClassFn;
  WrenWriteFn writeFn;
  WrenErrorFn errorFn;
  size_t initialHeapSize;
  /* Collections wait for at least this many bytes (default 4 MB); freed small blocks up to twice
     this are kept for reuse. */
  size_t minHeapSize;
  int heapGrowthPercent;
  /* 0 means no cap. Allocations beyond it raise "Out of memory." */
  size_t maxHeapSize;
  /* Enables the built-in "meta" and "random" modules. */
  bool enableOptionalModules;
  /* Meta.getModuleVariables answers only for the calling module itself (an
     embedder running untrusted code in shared modules sets it); otherwise any
     module the caller can name, as in the reference. */
  bool metaOwnModuleOnly;
  void* userData;
} WrenConfiguration;

typedef enum {
  WREN_RESULT_SUCCESS,
  WREN_RESULT_COMPILE_ERROR,
  WREN_RESULT_RUNTIME_ERROR,
  /* The slice ran out: the running fiber is in slot 0, for wren_resume(). */
  WREN_RESULT_PAUSED
} WrenInterpretResult;

typedef enum {
  WREN_TYPE_BOOL,
  WREN_TYPE_NUM,
  WREN_TYPE_FOREIGN,
  WREN_TYPE_LIST,
  WREN_TYPE_MAP,
  WREN_TYPE_NULL,
  WREN_TYPE_STRING,
  WREN_TYPE_UNKNOWN
} WrenType;

typedef struct {
  size_t heapBytes;
  size_t gcRuns;
  uint64_t instructions;
  size_t modules;
} WrenStatistics;

int wren_get_version_number(void);
void wren_init_configuration(WrenConfiguration* config);
WrenVM* wren_new_vm(const WrenConfiguration* config);
/* Returns the number of handles that were still alive. */
int wren_free_vm(WrenVM* vm);
void wren_collect_garbage(WrenVM* vm);
WrenInterpretResult wren_interpret(WrenVM* vm, const char* module, const char* source);
/* Compiles `source` once, as a module named `module` would be (compile errors are reported under that name),
   without running it or keeping the module: NULL on a compile error, or if `module` exists. */
WrenHandle* wren_compile_template(WrenVM* vm, const char* module, const char* source);
/* Runs a template in a new module named `module`, as `wren_interpret` would run its source there: the module's
   variables and functions are the template's, copied (nothing a run does reaches the template or another run). */
WrenInterpretResult wren_interpret_template(WrenVM* vm, const char* module, WrenHandle* template);

WrenHandle* wren_make_call_handle(WrenVM* vm, const char* signature);
WrenInterpretResult wren_call(WrenVM* vm, WrenHandle* method);
void wren_release_handle(WrenVM* vm, WrenHandle* handle);

int wren_get_slot_count(WrenVM* vm);
void wren_ensure_slots(WrenVM* vm, int numSlots);
WrenType wren_get_slot_type(WrenVM* vm, int slot);
bool wren_get_slot_bool(WrenVM* vm, int slot);
const char* wren_get_slot_bytes(WrenVM* vm, int slot, int* length);
double wren_get_slot_double(WrenVM* vm, int slot);
void* wren_get_slot_foreign(WrenVM* vm, int slot);
const char* wren_get_slot_string(WrenVM* vm, int slot);
WrenHandle* wren_get_slot_handle(WrenVM* vm, int slot);
void wren_set_slot_bool(WrenVM* vm, int slot, bool value);
void wren_set_slot_bytes(WrenVM* vm, int slot, const char* bytes, size_t length);
void wren_set_slot_double(WrenVM* vm, int slot, double value);
void* wren_set_slot_new_foreign(WrenVM* vm, int slot, int classSlot, size_t size);
void wren_set_slot_new_list(WrenVM* vm, int slot);
void wren_set_slot_new_map(WrenVM* vm, int slot);
void wren_set_slot_null(WrenVM* vm, int slot);
void wren_set_slot_string(WrenVM* vm, int slot, const char* text);
void wren_set_slot_handle(WrenVM* vm, int slot, WrenHandle* handle);

int wren_get_list_count(WrenVM* vm, int slot);
void wren_get_list_element(WrenVM* vm, int listSlot, int index, int elementSlot);
void wren_set_list_element(WrenVM* vm, int listSlot, int index, int elementSlot);
void wren_insert_in_list(WrenVM* vm, int listSlot, int index, int elementSlot);
int wren_get_map_count(WrenVM* vm, int slot);
bool wren_get_map_contains_key(WrenVM* vm, int mapSlot, int keySlot);
void wren_get_map_value(WrenVM* vm, int mapSlot, int keySlot, int valueSlot);
void wren_set_map_value(WrenVM* vm, int mapSlot, int keySlot, int valueSlot);
void wren_remove_map_value(WrenVM* vm, int mapSlot, int keySlot, int removedValueSlot);

void wren_get_variable(WrenVM* vm, const char* module, const char* name, int slot);
bool wren_has_variable(WrenVM* vm, const char* module, const char* name);
bool wren_has_module(WrenVM* vm, const char* module);
/* Forgets a module so that per-request modules do not accumulate. */
bool wren_remove_module(WrenVM* vm, const char* module);

void wren_abort_fiber(WrenVM* vm, int slot);
void* wren_get_user_data(WrenVM* vm);
void wren_set_user_data(WrenVM* vm, void* userData);
void* wren_get_foreign_tag(WrenVM* vm);
char* wren_alloc_string(WrenVM* vm, const char* text);

/* Instruction budget: negative disables it. When it runs out, the running
 * fiber gets the runtime error "Instruction budget exhausted." */
void wren_set_instruction_budget(WrenVM* vm, int64_t instructions);
int64_t wren_get_instruction_budget(WrenVM* vm);
/* Slice: negative (the default) runs until the code ends. Otherwise
 * wren_interpret(), wren_call() and wren_resume() return WREN_RESULT_PAUSED
 * once about this many instructions have run (counted like the budget, at a
 * call or a backward jump) with the running fiber in slot 0. Take a handle to
 * it and pass it to wren_resume() to go on; meanwhile the VM may run other
 * code. A paused fiber cannot be called or transferred to from Wren. Slices
 * shorter than 64 are taken as 64, so that a resumed fiber always moves on. */
void wren_set_slice(WrenVM* vm, int64_t instructions);
WrenInterpretResult wren_resume(WrenVM* vm, WrenHandle* fiber);
void wren_set_max_heap_size(WrenVM* vm, size_t bytes);
void wren_get_statistics(WrenVM* vm, WrenStatistics* stats);

#endif
