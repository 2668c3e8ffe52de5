/* Internal definitions shared by the VM's translation units. */
#ifndef DYNLAN_WREN_INTERNAL_H
#define DYNLAN_WREN_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "wren.h"

#define MAX_PARAMETERS 16
#define MAX_METHOD_NAME 64
#define MAX_METHOD_SIGNATURE (MAX_METHOD_NAME + 52)
#define MAX_VARIABLE_NAME 64
#define MAX_FIELDS 255
#define MAX_LOCALS 256
#define MAX_UPVALUES 256
#define MAX_CONSTANTS (1 << 16)
#define MAX_MODULE_VARS (1 << 16)
#define MAX_INTERPOLATION_NESTING 8
#define MAX_TEMP_ROOTS 16

#if defined(__GNUC__)
#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define LIKELY(x) (x)
#define UNLIKELY(x) (x)
#endif

/* ---- values: NaN boxing ---------------------------------------------- */

typedef uint64_t Value;

#define SIGN_BIT ((uint64_t)1 << 63)
#define QNAN ((uint64_t)0x7ffc000000000000)

#define TAG_NAN 0
#define TAG_NULL 1
#define TAG_FALSE 2
#define TAG_TRUE 3
#define TAG_UNDEFINED 4

#define NULL_VAL ((Value)(QNAN | TAG_NULL))
#define FALSE_VAL ((Value)(QNAN | TAG_FALSE))
#define TRUE_VAL ((Value)(QNAN | TAG_TRUE))
#define UNDEFINED_VAL ((Value)(QNAN | TAG_UNDEFINED))

#define IS_NUM(v) (((v) & QNAN) != QNAN)
#define IS_OBJ(v) (((v) & (QNAN | SIGN_BIT)) == (QNAN | SIGN_BIT))
#define IS_NULL(v) ((v) == NULL_VAL)
#define IS_FALSE(v) ((v) == FALSE_VAL)
#define IS_BOOL(v) ((v) == TRUE_VAL || (v) == FALSE_VAL)
#define IS_UNDEFINED(v) ((v) == UNDEFINED_VAL)
#define IS_FALSY(v) ((v) == FALSE_VAL || (v) == NULL_VAL)

#define AS_OBJ(v) ((Obj*)(uintptr_t)((v) & ~(SIGN_BIT | QNAN)))
#define AS_BOOL(v) ((v) == TRUE_VAL)
#define BOOL_VAL(b) ((b) ? TRUE_VAL : FALSE_VAL)
#define OBJ_VAL(o) ((Value)(SIGN_BIT | QNAN | (uint64_t)(uintptr_t)(o)))

static inline double value_to_num(Value v) {
  double d;
  memcpy(&d, &v, sizeof d);
  return d;
}
static inline Value num_to_value(double d) {
  Value v;
  memcpy(&v, &d, sizeof d);
  return v;
}
#define AS_NUM(v) value_to_num(v)
#define NUM_VAL(d) num_to_value(d)

typedef enum {
  OBJ_CLASS,
  OBJ_CLOSURE,
  OBJ_FIBER,
  OBJ_FN,
  OBJ_FOREIGN,
  OBJ_INSTANCE,
  OBJ_LIST,
  OBJ_MAP,
  OBJ_MODULE,
  OBJ_RANGE,
  OBJ_STRING,
  OBJ_UPVALUE
} ObjType;

typedef struct ObjClass ObjClass;

typedef struct Obj {
  ObjType type;
  bool dark;
  ObjClass* classObj;
  struct Obj* next;
} Obj;

#define IS_OBJ_TYPE(v, t) (IS_OBJ(v) && AS_OBJ(v)->type == (t))
#define IS_CLASS(v) IS_OBJ_TYPE(v, OBJ_CLASS)
#define IS_CLOSURE(v) IS_OBJ_TYPE(v, OBJ_CLOSURE)
#define IS_FIBER(v) IS_OBJ_TYPE(v, OBJ_FIBER)
#define IS_FN(v) IS_OBJ_TYPE(v, OBJ_FN)
#define IS_FOREIGN(v) IS_OBJ_TYPE(v, OBJ_FOREIGN)
#define IS_INSTANCE(v) IS_OBJ_TYPE(v, OBJ_INSTANCE)
#define IS_LIST(v) IS_OBJ_TYPE(v, OBJ_LIST)
#define IS_MAP(v) IS_OBJ_TYPE(v, OBJ_MAP)
#define IS_RANGE(v) IS_OBJ_TYPE(v, OBJ_RANGE)
#define IS_STRING(v) IS_OBJ_TYPE(v, OBJ_STRING)

#define AS_CLASS(v) ((ObjClass*)AS_OBJ(v))
#define AS_CLOSURE(v) ((ObjClosure*)AS_OBJ(v))
#define AS_FIBER(v) ((ObjFiber*)AS_OBJ(v))
#define AS_FN(v) ((ObjFn*)AS_OBJ(v))
#define AS_FOREIGN(v) ((ObjForeign*)AS_OBJ(v))
#define AS_INSTANCE(v) ((ObjInstance*)AS_OBJ(v))
#define AS_LIST(v) ((ObjList*)AS_OBJ(v))
#define AS_MAP(v) ((ObjMap*)AS_OBJ(v))
#define AS_MODULE(v) ((ObjModule*)AS_OBJ(v))
#define AS_RANGE(v) ((ObjRange*)AS_OBJ(v))
#define AS_STRING(v) ((ObjString*)AS_OBJ(v))
#define AS_CSTRING(v) (AS_STRING(v)->value)

typedef struct {
  Obj obj;
  uint32_t length;
  uint32_t hash;
  char value[];
} ObjString;

typedef struct {
  Value* data;
  int count;
  int capacity;
} ValueBuffer;

typedef struct {
  ObjString** data;
  int count;
  int capacity;
} SymbolTable;

typedef struct {
  Obj obj;
  ValueBuffer elements;
} ObjList;

typedef struct {
  Value key;
  Value value;
} MapEntry;

typedef struct {
  Obj obj;
  uint32_t capacity;
  uint32_t count;
  MapEntry* entries;
} ObjMap;

typedef struct {
  Obj obj;
  double from;
  double to;
  bool isInclusive;
} ObjRange;

typedef struct ObjModule {
  Obj obj;
  ValueBuffer variables;
  SymbolTable variableNames;
  ObjString* name;
} ObjModule;

typedef struct {
  int* data;
  int count;
  int capacity;
} IntBuffer;

typedef struct {
  uint8_t* data;
  int count;
  int capacity;
} ByteBuffer;

typedef struct ObjFn {
  Obj obj;
  ByteBuffer code;
  ValueBuffer constants;
  IntBuffer lines;
  ObjModule* module;
  int maxSlots;
  int numUpvalues;
  int arity;
  bool isMethod;
  int fieldBase;
  char* name;
} ObjFn;

typedef struct ObjUpvalue {
  Obj obj;
  Value* value;
  Value closed;
  struct ObjUpvalue* next;
} ObjUpvalue;

typedef struct {
  Obj obj;
  ObjFn* fn;
  ObjUpvalue* upvalues[];
} ObjClosure;

typedef struct {
  uint8_t* ip;
  ObjClosure* closure;
  Value* stackStart;
} CallFrame;

typedef enum { FIBER_TRY, FIBER_ROOT, FIBER_OTHER } FiberState;

typedef struct ObjFiber {
  Obj obj;
  Value* stack;
  Value* stackTop;
  int stackCapacity;
  /* The first frames and stack are allocated with the fiber, in one block
     after it (FIBER_INLINE_FRAMES frames, then this many stack slots); a
     fiber that outgrows them moves to arrays of its own. */
  int inlineStackCapacity;
  CallFrame* frames;
  int numFrames;
  int frameCapacity;
  ObjUpvalue* openUpvalues;
  struct ObjFiber* caller;
  Value error;
  FiberState state;
  /* Stopped by the host at the end of a slice; only wren_resume() runs it. */
  bool paused;
} ObjFiber;

#define FIBER_INLINE_FRAMES 4
#define FIBER_INLINE_FRAMES_OF(f) ((CallFrame*)((f) + 1))
#define FIBER_INLINE_STACK_OF(f) ((Value*)(FIBER_INLINE_FRAMES_OF(f) + FIBER_INLINE_FRAMES))

typedef bool (*Primitive)(WrenVM* vm, Value* args);

typedef enum {
  METHOD_NONE,
  METHOD_PRIMITIVE,
  METHOD_FUNCTION_CALL,
  METHOD_FOREIGN,
  METHOD_BLOCK,
  /* A method whose whole body returns a field (`name { _name }`) or sets it
     from its argument and returns that (`name=(v) { _name = v }`): the
     interpreter reads or writes the field without a frame. `as.closure` is the
     method's code all the same. */
  METHOD_FIELD_GETTER,
  METHOD_FIELD_SETTER
} MethodType;

typedef struct {
  MethodType type;
  /* The field of METHOD_FIELD_GETTER and METHOD_FIELD_SETTER. */
  int field;
  union {
    Primitive primitive;
    WrenForeignMethodFn foreign;
    ObjClosure* closure;
  } as;
  void* tag;
} Method;

typedef struct {
  Method* data;
  int count;
  int capacity;
} MethodBuffer;

struct ObjClass {
  Obj obj;
  ObjClass* superclass;
  int numFields;
  MethodBuffer methods;
  ObjString* name;
  Value attributes;
  bool isForeign;
  WrenForeignMethodFn allocate;
  WrenFinalizerFn finalize;
  void* allocateTag;
};

typedef struct {
  Obj obj;
  WrenFinalizerFn finalize;
  size_t size;
  uint8_t data[];
} ObjForeign;

typedef struct {
  Obj obj;
  Value fields[];
} ObjInstance;

struct WrenHandle {
  Value value;
  WrenHandle* prev;
  WrenHandle* next;
};

typedef struct Compiler Compiler;

enum {
  FAST_NONE, FAST_PLUS, FAST_MINUS, FAST_MULTIPLY, FAST_DIVIDE, FAST_LT, FAST_GT, FAST_LTE,
  FAST_GTE, FAST_EQ, FAST_NEQ,
  /* List and Range methods the interpreter runs inline on their usual
     arguments (anything else takes the primitive's path). */
  FAST_SUBSCRIPT, FAST_ITERATE, FAST_ITERATOR_VALUE, FAST_MOD, FAST_ADD_ELEMENT
};
#define FAST_INFIX_SYMBOLS 256

/* Small blocks freed by the VM are kept on free lists, one per size class of
   16 bytes, and handed out again before asking malloc: objects, fibers, closures
   and short strings come and go in great numbers. Only with the default
   allocator on glibc (a block's class is what malloc_usable_size says it
   holds), never under AddressSanitizer, and at most twice the VM's
   minHeapSize (the garbage of about one collection). */
#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__) && !defined(WREN_NO_POOL)
#define WREN_POOL 1
#endif
#define POOL_CLASSES 32

typedef struct PoolBlock {
  struct PoolBlock* next;
} PoolBlock;

struct WrenVM {
  /* See WREN_POOL. usePool is set when the default allocator is in use. */
  PoolBlock* pool[POOL_CLASSES];
  size_t poolBytes;
  size_t poolMaxBytes;
  bool usePool;
  ObjClass* boolClass;
  ObjClass* classClass;
  ObjClass* fiberClass;
  ObjClass* fnClass;
  ObjClass* listClass;
  ObjClass* mapClass;
  ObjClass* nullClass;
  ObjClass* numClass;
  ObjClass* objectClass;
  ObjClass* rangeClass;
  ObjClass* stringClass;

  ObjFiber* fiber;
  ObjMap* modules;
  ObjModule* coreModule;
  ObjModule* lastModule;

  size_t bytesAllocated;
  size_t nextGC;
  size_t gcRuns;
  Obj* first;
  Obj** gray;
  int grayCount;
  int grayCapacity;
  Obj* tempRoots[MAX_TEMP_ROOTS];
  int numTempRoots;
  WrenHandle* handles;

  Value* apiStack;
  int apiSlotCount;
  int apiSlotCapacity;
  void* foreignTag;

  WrenConfiguration config;
  Compiler* compiler;
  SymbolTable methodNames;

  int64_t budget;         /* < 0: unlimited */
  int64_t slice;          /* < 0: run to the end; else pause after this many */
  uint64_t instructions;  /* executed so far */
  bool memoryExceeded;
  bool inInterpreter;

  /* Symbols used by the interpreter and core. */
  int symIterate, symIteratorValue, symToString, symCall1;
  /* Calls of one argument the compiler emits as OP_ADD .. OP_ITERATOR_VALUE:
     FAST_* code by method symbol, 0 for every other symbol. */
  uint8_t fastInfix[FAST_INFIX_SYMBOLS];
  double startClock;
};

/* ---- memory ----------------------------------------------------------- */

void* wren_reallocate(WrenVM* vm, void* memory, size_t oldSize, size_t newSize);
void wren_pool_free_all(WrenVM* vm);
#define ALLOCATE(vm, type) ((type*)wren_reallocate(vm, NULL, 0, sizeof(type)))
#define ALLOCATE_FLEX(vm, type, extra) ((type*)wren_reallocate(vm, NULL, 0, sizeof(type) + (extra)))
#define ALLOCATE_ARRAY(vm, type, n) ((type*)wren_reallocate(vm, NULL, 0, sizeof(type) * (size_t)(n)))
#define DEALLOCATE(vm, p, size) wren_reallocate(vm, p, size, 0)

void wren_buffer_write_value(WrenVM* vm, ValueBuffer* b, Value v);
void wren_buffer_free_value(WrenVM* vm, ValueBuffer* b);
void wren_buffer_write_byte(WrenVM* vm, ByteBuffer* b, uint8_t v);
void wren_buffer_free_byte(WrenVM* vm, ByteBuffer* b);
void wren_buffer_write_int(WrenVM* vm, IntBuffer* b, int v);
void wren_buffer_free_int(WrenVM* vm, IntBuffer* b);

void wren_push_root(WrenVM* vm, Obj* obj);
void wren_pop_root(WrenVM* vm);
void wren_collect(WrenVM* vm);
void wren_gray_obj(WrenVM* vm, Obj* obj);
void wren_gray_value(WrenVM* vm, Value v);
void wren_free_obj(WrenVM* vm, Obj* obj);
/* Returns false (with an error on the fiber) if a cap forbids it. */
bool wren_check_alloc(WrenVM* vm, double bytes);

/* ---- symbol tables ---------------------------------------------------- */

void wren_symbol_table_init(SymbolTable* t);
void wren_symbol_table_free(WrenVM* vm, SymbolTable* t);
int wren_symbol_table_add(WrenVM* vm, SymbolTable* t, const char* name, size_t length);
int wren_symbol_table_ensure(WrenVM* vm, SymbolTable* t, const char* name, size_t length);
int wren_symbol_table_find(const SymbolTable* t, const char* name, size_t length);
void wren_symbol_table_gray(WrenVM* vm, SymbolTable* t);

/* ---- objects ---------------------------------------------------------- */

void wren_init_obj(WrenVM* vm, Obj* obj, ObjType type, ObjClass* classObj);
ObjClass* wren_new_single_class(WrenVM* vm, int numFields, ObjString* name);
ObjClass* wren_new_class(WrenVM* vm, ObjClass* superclass, int numFields, ObjString* name);
void wren_bind_superclass(WrenVM* vm, ObjClass* subclass, ObjClass* superclass);
void wren_bind_method(WrenVM* vm, ObjClass* cls, int symbol, Method method);
ObjClosure* wren_new_closure(WrenVM* vm, ObjFn* fn);
ObjFiber* wren_new_fiber(WrenVM* vm, ObjClosure* closure);
void wren_fiber_ensure_stack(WrenVM* vm, ObjFiber* fiber, int needed);
void wren_fiber_push_frame(WrenVM* vm, ObjFiber* fiber, ObjClosure* closure, Value* stackStart);
ObjFn* wren_new_fn(WrenVM* vm, ObjModule* module, int maxSlots);
Value wren_new_instance(WrenVM* vm, ObjClass* cls);
ObjList* wren_new_list(WrenVM* vm, int count);
void wren_list_insert(WrenVM* vm, ObjList* list, Value v, int index);
Value wren_list_remove_at(WrenVM* vm, ObjList* list, int index);
ObjMap* wren_new_map(WrenVM* vm);
Value wren_map_get(ObjMap* map, Value key);
void wren_map_set(WrenVM* vm, ObjMap* map, Value key, Value value);
void wren_map_clear(WrenVM* vm, ObjMap* map);
Value wren_map_remove(WrenVM* vm, ObjMap* map, Value key);
ObjModule* wren_new_module(WrenVM* vm, ObjString* name);
Value wren_new_range(WrenVM* vm, double from, double to, bool isInclusive);
ObjUpvalue* wren_new_upvalue(WrenVM* vm, Value* value);

Value wren_new_string(WrenVM* vm, const char* text);
Value wren_new_string_length(WrenVM* vm, const char* text, size_t length);
ObjString* wren_alloc_obj_string(WrenVM* vm, size_t length);
void wren_hash_string(ObjString* s);
Value wren_string_format(WrenVM* vm, const char* format, ...);
Value wren_num_to_string(WrenVM* vm, double value);
Value wren_string_from_code_point(WrenVM* vm, int value);
Value wren_string_from_byte(WrenVM* vm, uint8_t value);
Value wren_string_code_point_at(WrenVM* vm, ObjString* s, uint32_t index);
Value wren_string_from_range(WrenVM* vm, ObjString* s, int start, uint32_t count, int step);
uint32_t wren_string_find(ObjString* haystack, ObjString* needle, uint32_t start);
bool wren_strings_equal(ObjString* a, ObjString* b);
int wren_utf8_encode_num_bytes(int value);
int wren_utf8_encode(int value, uint8_t* bytes);
int wren_utf8_decode(const uint8_t* bytes, uint32_t length);
int wren_utf8_decode_num_bytes(uint8_t byte);

bool wren_values_equal(Value a, Value b);
static inline bool wren_values_same(Value a, Value b) {
  if (IS_NUM(a) && IS_NUM(b)) return AS_NUM(a) == AS_NUM(b);
  return a == b;
}
ObjClass* wren_get_class(WrenVM* vm, Value v);

static inline ObjClass* wren_get_class_inline(WrenVM* vm, Value v) {
  if (IS_OBJ(v)) return AS_OBJ(v)->classObj;
  if (IS_NUM(v)) return vm->numClass;
  switch (v & 7) {
    case TAG_FALSE: return vm->boolClass;
    case TAG_TRUE: return vm->boolClass;
    case TAG_NAN: return vm->numClass;
    default: return vm->nullClass;
  }
}

/* ---- compiler --------------------------------------------------------- */

ObjFn* wren_compile(WrenVM* vm, ObjModule* module, const char* source, bool isExpression,
                    bool printErrors);
void wren_mark_compiler(WrenVM* vm, Compiler* compiler);
void wren_bind_method_code(ObjClass* classObj, ObjFn* fn);

/* ---- vm --------------------------------------------------------------- */

int wren_method_symbol(WrenVM* vm, const char* name);
Value wren_find_variable(WrenVM* vm, ObjModule* module, const char* name);
int wren_declare_variable(WrenVM* vm, ObjModule* module, const char* name, size_t length);
int wren_define_variable(WrenVM* vm, ObjModule* module, const char* name, size_t length,
                         Value value);
ObjModule* wren_get_module(WrenVM* vm, Value name);
Value wren_import_module(WrenVM* vm, Value name);
ObjClosure* wren_compile_source(WrenVM* vm, const char* module, const char* source,
                                bool isExpression, bool printErrors);
void wren_runtime_error_str(WrenVM* vm, const char* message);
#define RETURN_ERROR(msg)                     \
  do {                                        \
    wren_runtime_error_str(vm, msg);          \
    return false;                             \
  } while (0)
void wren_write(WrenVM* vm, const char* text);
double wren_clock_seconds(void);

/* ---- core & optional modules ----------------------------------------- */

void wren_initialize_core(WrenVM* vm);
const char* wren_optional_module_source(const char* name);
WrenForeignMethodFn wren_optional_bind_method(const char* module, const char* className,
                                              bool isStatic, const char* signature);
WrenForeignClassMethods wren_optional_bind_class(const char* module, const char* className);
void wren_meta_bind(WrenVM* vm);

/* ---- opcodes ---------------------------------------------------------- */

typedef enum {
  OP_CONSTANT,      /* u16 */
  OP_NULL,
  OP_FALSE,
  OP_TRUE,
  OP_LOAD_LOCAL_0,
  OP_LOAD_LOCAL_1,
  OP_LOAD_LOCAL_2,
  OP_LOAD_LOCAL_3,
  OP_LOAD_LOCAL,    /* u8 */
  OP_STORE_LOCAL,   /* u8 */
  OP_LOAD_UPVALUE,  /* u8 */
  OP_STORE_UPVALUE, /* u8 */
  OP_LOAD_MODULE_VAR,  /* u16 */
  OP_STORE_MODULE_VAR, /* u16 */
  OP_LOAD_FIELD_THIS,  /* u8 */
  OP_STORE_FIELD_THIS, /* u8 */
  OP_LOAD_FIELD,       /* u8 */
  OP_STORE_FIELD,      /* u8 */
  OP_POP,
  OP_CALL_0, /* u16 symbol; CALL_0..CALL_16 */
  OP_CALL_16 = OP_CALL_0 + 16,
  OP_SUPER_0, /* u16 symbol, u16 superclass constant */
  OP_SUPER_16 = OP_SUPER_0 + 16,
  OP_JUMP,          /* u16 */
  OP_LOOP,          /* u16 */
  OP_JUMP_IF,       /* u16: jump if falsy, pops */
  OP_AND,           /* u16 */
  OP_OR,            /* u16 */
  OP_CLOSE_UPVALUE,
  OP_RETURN,
  OP_CLOSURE,       /* u16 constant, then (isLocal u8, index u8) pairs */
  OP_CONSTRUCT,
  OP_FOREIGN_CONSTRUCT,
  OP_CLASS,         /* u8 number of fields */
  OP_FOREIGN_CLASS,
  OP_END_CLASS,     /* attributes on stack */
  OP_METHOD_INSTANCE, /* u16 */
  OP_METHOD_STATIC,   /* u16 */
  OP_END_MODULE,
  OP_IMPORT_MODULE,   /* u16 constant */
  OP_IMPORT_VARIABLE, /* u16 constant */
  OP_END,
  /* Calls of one argument the interpreter runs inline on their usual
     receivers (two Nums; Strings for == and !=; Lists and Ranges), falling back
     to the call OP_CALL_1 makes: the same operand (u16 symbol). In the order
     of the FAST_* codes, from FAST_PLUS on. */
  OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_LT, OP_GT, OP_LTE, OP_GTE, OP_EQ, OP_NEQ,
  OP_SUBSCRIPT, OP_ITERATE, OP_ITERATOR_VALUE, OP_MOD, OP_ADD_ELEMENT
} OpCode;

int wren_op_size(const uint8_t* code, const Value* constants, int ip);

#endif
