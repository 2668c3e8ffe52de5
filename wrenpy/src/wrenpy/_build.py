"""cffi (API mode) builder for the Wren VM: `wrenpy._wren_cffi`.

setup.py picks up `ffibuilder` from here; the VM's C sources are compiled with
the system C compiler at install time. Python callbacks are `extern "Python+C"`
functions; small C shims adapt them to the VM's callback signatures.
"""

from __future__ import annotations

import glob
import os

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
VM_DIR = os.path.join(HERE, "vm")

CDEF = """
typedef struct WrenVM WrenVM;
typedef struct WrenHandle WrenHandle;

typedef enum { WREN_ERROR_COMPILE, WREN_ERROR_RUNTIME, WREN_ERROR_STACK_TRACE } WrenErrorType;
typedef enum {
  WREN_RESULT_SUCCESS, WREN_RESULT_COMPILE_ERROR, WREN_RESULT_RUNTIME_ERROR, WREN_RESULT_PAUSED
} WrenInterpretResult;
typedef enum {
  WREN_TYPE_BOOL, WREN_TYPE_NUM, WREN_TYPE_FOREIGN, WREN_TYPE_LIST, WREN_TYPE_MAP,
  WREN_TYPE_NULL, WREN_TYPE_STRING, WREN_TYPE_UNKNOWN
} WrenType;

typedef struct {
  size_t heapBytes;
  size_t gcRuns;
  uint64_t instructions;
  size_t modules;
} WrenStatistics;

int wren_get_version_number(void);
WrenVM* dl_new_vm(size_t initialHeapSize, size_t minHeapSize, int heapGrowthPercent,
                  size_t maxHeapSize, bool enableOptionalModules, bool metaOwnModuleOnly,
                  void* userData);
int wren_free_vm(WrenVM* vm);
void wren_collect_garbage(WrenVM* vm);
WrenInterpretResult wren_interpret(WrenVM* vm, const char* module, const char* source);
WrenHandle* wren_compile_template(WrenVM* vm, const char* module, const char* source);
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
WrenHandle* wren_get_slot_handle(WrenVM* vm, int slot);
void wren_set_slot_bool(WrenVM* vm, int slot, bool value);
void wren_set_slot_bytes(WrenVM* vm, int slot, const char* bytes, size_t length);
void wren_set_slot_double(WrenVM* vm, int slot, double value);
void* wren_set_slot_new_foreign(WrenVM* vm, int slot, int classSlot, size_t size);
void wren_set_slot_new_list(WrenVM* vm, int slot);
void wren_set_slot_new_map(WrenVM* vm, int slot);
void wren_set_slot_null(WrenVM* vm, int slot);
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
bool wren_remove_module(WrenVM* vm, const char* module);
void wren_abort_fiber(WrenVM* vm, int slot);
void* wren_get_user_data(WrenVM* vm);
void* wren_get_foreign_tag(WrenVM* vm);
char* wren_alloc_string(WrenVM* vm, const char* text);
void wren_set_instruction_budget(WrenVM* vm, int64_t instructions);
int64_t wren_get_instruction_budget(WrenVM* vm);
void wren_set_slice(WrenVM* vm, int64_t instructions);
WrenInterpretResult wren_resume(WrenVM* vm, WrenHandle* fiber);
void wren_set_max_heap_size(WrenVM* vm, size_t bytes);
void wren_get_statistics(WrenVM* vm, WrenStatistics* stats);

extern "Python+C" void _dl_write(WrenVM* vm, const char* text);
extern "Python+C" void _dl_error(WrenVM* vm, WrenErrorType type, const char* module, int line,
                                 const char* message);
extern "Python+C" char* _dl_resolve(WrenVM* vm, const char* importer, const char* name);
extern "Python+C" char* _dl_load(WrenVM* vm, const char* name);
extern "Python+C" WrenHandle* _dl_load_template(WrenVM* vm, const char* name);
extern "Python+C" int _dl_bind_method(WrenVM* vm, const char* module, const char* className,
                                      bool isStatic, const char* signature);
extern "Python+C" int _dl_bind_class(WrenVM* vm, const char* module, const char* className);
extern "Python+C" void _dl_foreign_call(WrenVM* vm);
extern "Python+C" void _dl_foreign_allocate(WrenVM* vm);
extern "Python+C" void _dl_finalize(void* data);
"""

SOURCE = r"""
#include <stdint.h>
#include "wren.h"

void _dl_write(WrenVM* vm, const char* text);
void _dl_error(WrenVM* vm, WrenErrorType type, const char* module, int line, const char* message);
char* _dl_resolve(WrenVM* vm, const char* importer, const char* name);
char* _dl_load(WrenVM* vm, const char* name);
WrenHandle* _dl_load_template(WrenVM* vm, const char* name);
int _dl_bind_method(WrenVM* vm, const char* module, const char* className, bool isStatic,
                    const char* signature);
int _dl_bind_class(WrenVM* vm, const char* module, const char* className);
void _dl_foreign_call(WrenVM* vm);
void _dl_foreign_allocate(WrenVM* vm);
void _dl_finalize(void* data);

static WrenForeignMethod dl_bind_method(WrenVM* vm, const char* module, const char* className,
                                        bool isStatic, const char* signature) {
  WrenForeignMethod result = {NULL, NULL};
  int id = _dl_bind_method(vm, module, className, isStatic, signature);
  if (id >= 0) {
    result.fn = _dl_foreign_call;
    result.tag = (void*)(intptr_t)id;
  }
  return result;
}

static WrenForeignClassMethods dl_bind_class(WrenVM* vm, const char* module,
                                             const char* className) {
  WrenForeignClassMethods result = {NULL, NULL, NULL};
  int id = _dl_bind_class(vm, module, className);
  if (id >= 0) {
    result.allocate = _dl_foreign_allocate;
    result.finalize = _dl_finalize;
    result.tag = (void*)(intptr_t)id;
  }
  return result;
}

static WrenVM* dl_new_vm(size_t initialHeapSize, size_t minHeapSize, int heapGrowthPercent,
                         size_t maxHeapSize, bool enableOptionalModules,
                         bool metaOwnModuleOnly, void* userData) {
  WrenConfiguration config;
  wren_init_configuration(&config);
  config.writeFn = _dl_write;
  config.errorFn = _dl_error;
  config.resolveModuleFn = _dl_resolve;
  config.loadModuleFn = _dl_load;
  config.loadTemplateFn = _dl_load_template;
  config.bindForeignMethodFn = dl_bind_method;
  config.bindForeignClassFn = dl_bind_class;
  if (initialHeapSize != 0) config.initialHeapSize = initialHeapSize;
  if (minHeapSize != 0) config.minHeapSize = minHeapSize;
  if (heapGrowthPercent > 0) config.heapGrowthPercent = heapGrowthPercent;
  config.maxHeapSize = maxHeapSize;
  config.enableOptionalModules = enableOptionalModules;
  config.metaOwnModuleOnly = metaOwnModuleOnly;
  config.userData = userData;
  return wren_new_vm(&config);
}
"""


def _sources() -> list[str]:
    paths = sorted(glob.glob(os.path.join(VM_DIR, "*.c")))
    paths = [p for p in paths if not os.path.basename(p).startswith("main")]
    cwd = os.getcwd()
    return [os.path.relpath(p, cwd) if p.startswith(cwd + os.sep) else p for p in paths]


ffibuilder = FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source(
    "wrenpy._wren_cffi",
    SOURCE,
    sources=_sources(),
    include_dirs=[VM_DIR],
    depends=sorted(glob.glob(os.path.join(VM_DIR, "*.h"))),
    extra_compile_args=["-O2", "-std=c99", "-D_POSIX_C_SOURCE=200809L", "-Wall"],
    libraries=["m"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
