/* Core library primitives (Object, Class, Bool, Null, Num, Fn, Fiber,
 * List, Map, Range, String, System). */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "wren_core_source.h"
#include "wren_internal.h"

WrenInterpretResult wren_run_core_source(WrenVM* vm, const char* source);

#define DEF_PRIM(name) static bool prim_##name(WrenVM* vm, Value* args)
#define RETURN_VAL(v)  \
  do {                 \
    args[0] = (v);     \
    return true;       \
  } while (0)
#define RETURN_NUM(n) RETURN_VAL(NUM_VAL(n))
#define RETURN_BOOL(b) RETURN_VAL(BOOL_VAL(b))
#define RETURN_NULL() RETURN_VAL(NULL_VAL)
#define RETURN_OBJ(o) RETURN_VAL(OBJ_VAL(o))

static void bind_prim(WrenVM* vm, ObjClass* cls, const char* name, Primitive fn) {
  int symbol = wren_method_symbol(vm, name);
  Method m;
  m.type = METHOD_PRIMITIVE;
  m.as.primitive = fn;
  m.tag = NULL;
  m.field = 0;
  wren_bind_method(vm, cls, symbol, m);
}
#define PRIM(cls, name, fn) bind_prim(vm, cls, name, prim_##fn)

static void bind_fn_call(WrenVM* vm, ObjClass* cls, const char* name) {
  int symbol = wren_method_symbol(vm, name);
  Method m;
  m.type = METHOD_FUNCTION_CALL;
  m.as.primitive = NULL;
  m.tag = NULL;
  m.field = 0;
  wren_bind_method(vm, cls, symbol, m);
}

/* ---- validation ------------------------------------------------------- */

static bool validate_num(WrenVM* vm, Value v, const char* name) {
  if (IS_NUM(v)) return true;
  char buf[128];
  snprintf(buf, sizeof buf, "%s must be a number.", name);
  wren_runtime_error_str(vm, buf);
  return false;
}

static bool validate_int_value(WrenVM* vm, double d, const char* name) {
  if (trunc(d) == d && !isinf(d)) return true;
  char buf[128];
  snprintf(buf, sizeof buf, "%s must be an integer.", name);
  wren_runtime_error_str(vm, buf);
  return false;
}

static bool validate_int(WrenVM* vm, Value v, const char* name) {
  if (!validate_num(vm, v, name)) return false;
  return validate_int_value(vm, AS_NUM(v), name);
}

/* Returns the index, or UINT32_MAX after raising an error. */
static uint32_t validate_index_value(WrenVM* vm, uint32_t count, double value, const char* name) {
  if (!validate_int_value(vm, value, name)) return UINT32_MAX;
  if (value < 0) value += count;
  if (value >= 0 && value < count) return (uint32_t)value;
  char buf[128];
  snprintf(buf, sizeof buf, "%s out of bounds.", name);
  wren_runtime_error_str(vm, buf);
  return UINT32_MAX;
}

static uint32_t validate_index(WrenVM* vm, Value v, uint32_t count, const char* name) {
  if (!validate_num(vm, v, name)) return UINT32_MAX;
  return validate_index_value(vm, count, AS_NUM(v), name);
}

static bool validate_fn(WrenVM* vm, Value v, const char* name) {
  if (IS_CLOSURE(v)) return true;
  char buf[128];
  snprintf(buf, sizeof buf, "%s must be a function.", name);
  wren_runtime_error_str(vm, buf);
  return false;
}

static bool validate_string(WrenVM* vm, Value v, const char* name) {
  if (IS_STRING(v)) return true;
  char buf[128];
  snprintf(buf, sizeof buf, "%s must be a string.", name);
  wren_runtime_error_str(vm, buf);
  return false;
}

static bool validate_key(WrenVM* vm, Value v) {
  if (IS_NUM(v) || IS_BOOL(v) || IS_NULL(v) || IS_STRING(v) || IS_RANGE(v) || IS_CLASS(v)) {
    return true;
  }
  wren_runtime_error_str(vm, "Key must be a value type.");
  return false;
}

/* Resolves a range subscript on a sequence of `*length` items. Returns the
   start index and sets *length and *step; UINT32_MAX on error. */
static uint32_t calculate_range(WrenVM* vm, ObjRange* range, uint32_t* length, int* step) {
  *step = 0;
  if (range->from == *length && range->to == (range->isInclusive ? -1.0 : (double)*length)) {
    *length = 0;
    return 0;
  }
  uint32_t from = validate_index_value(vm, *length, range->from, "Range start");
  if (from == UINT32_MAX) return UINT32_MAX;
  double value = range->to;
  if (!validate_int_value(vm, value, "Range end")) return UINT32_MAX;
  if (value < 0) value += *length;
  if (!range->isInclusive) {
    if (value == from) {
      *length = 0;
      return from;
    }
    value += value >= from ? -1 : 1;
  }
  if (value < 0 || value >= *length) {
    wren_runtime_error_str(vm, "Range end out of bounds.");
    return UINT32_MAX;
  }
  uint32_t to = (uint32_t)value;
  *length = (from > to ? from - to : to - from) + 1;
  *step = from < to ? 1 : -1;
  return from;
}

/* ---- Object / Class --------------------------------------------------- */

DEF_PRIM(object_not) {
  (void)vm;
  RETURN_VAL(FALSE_VAL);
}
DEF_PRIM(object_eqeq) {
  (void)vm;
  RETURN_BOOL(wren_values_equal(args[0], args[1]));
}
DEF_PRIM(object_bangeq) {
  (void)vm;
  RETURN_BOOL(!wren_values_equal(args[0], args[1]));
}
DEF_PRIM(object_is) {
  if (!IS_CLASS(args[1])) RETURN_ERROR("Right operand must be a class.");
  ObjClass* cls = wren_get_class(vm, args[0]);
  ObjClass* target = AS_CLASS(args[1]);
  while (cls != NULL) {
    if (cls == target) RETURN_BOOL(true);
    cls = cls->superclass;
  }
  RETURN_BOOL(false);
}
DEF_PRIM(object_toString) {
  ObjClass* cls = wren_get_class(vm, args[0]);
  RETURN_VAL(wren_string_format(vm, "instance of @", OBJ_VAL(cls->name)));
}
DEF_PRIM(object_type) { RETURN_OBJ(wren_get_class(vm, args[0])); }
DEF_PRIM(object_same) {
  (void)vm;
  RETURN_BOOL(wren_values_equal(args[1], args[2]));
}

DEF_PRIM(class_name) {
  (void)vm;
  RETURN_OBJ(AS_CLASS(args[0])->name);
}
DEF_PRIM(class_supertype) {
  (void)vm;
  ObjClass* c = AS_CLASS(args[0]);
  if (c->superclass == NULL) RETURN_NULL();
  RETURN_OBJ(c->superclass);
}
DEF_PRIM(class_attributes) {
  (void)vm;
  RETURN_VAL(AS_CLASS(args[0])->attributes);
}

/* ---- Bool / Null ------------------------------------------------------ */

DEF_PRIM(bool_not) {
  (void)vm;
  RETURN_BOOL(!AS_BOOL(args[0]));
}
DEF_PRIM(bool_toString) {
  RETURN_VAL(wren_new_string(vm, AS_BOOL(args[0]) ? "true" : "false"));
}
DEF_PRIM(null_not) {
  (void)vm;
  RETURN_BOOL(true);
}
DEF_PRIM(null_toString) { RETURN_VAL(wren_new_string(vm, "null")); }

/* ---- Num -------------------------------------------------------------- */

static uint32_t to_u32(double d) {
  if (isnan(d) || isinf(d)) return 0;
  if (d >= 9.2e18 || d <= -9.2e18) return 0;
  return (uint32_t)(int64_t)d;
}

DEF_PRIM(num_fromString) {
  if (!validate_string(vm, args[1], "Argument")) return false;
  ObjString* s = AS_STRING(args[1]);
  const char* start = s->value;
  const char* end = s->value + s->length;
  while (start < end && (*start == ' ' || *start == '\t' || *start == '\n' || *start == '\r')) start++;
  while (end > start && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n' || end[-1] == '\r')) end--;
  if (start == end) RETURN_NULL();
  const char* p = start;
  if (*p == '-' || *p == '+') p++;
  if (p == end || !((*p >= '0' && *p <= '9') || *p == '.')) RETURN_NULL();
  if ((size_t)(end - start) != strlen(start) && memchr(start, '\0', (size_t)(end - start)) != NULL) {
    RETURN_NULL();
  }
  char buffer[512];
  size_t n = (size_t)(end - start);
  if (n >= sizeof buffer) RETURN_NULL();
  memcpy(buffer, start, n);
  buffer[n] = '\0';
  errno = 0;
  char* parsed;
  double value = strtod(buffer, &parsed);
  if (errno == ERANGE && (value == HUGE_VAL || value == -HUGE_VAL)) {
    RETURN_ERROR("Number literal is too large.");
  }
  if (parsed != buffer + n) RETURN_NULL();
  RETURN_NUM(value);
}

DEF_PRIM(num_infinity) {
  (void)vm;
  RETURN_NUM(INFINITY);
}
DEF_PRIM(num_nan) {
  (void)vm;
  RETURN_NUM(NAN);
}
DEF_PRIM(num_pi) {
  (void)vm;
  RETURN_NUM(3.14159265358979323846264338327950288);
}
DEF_PRIM(num_tau) {
  (void)vm;
  RETURN_NUM(6.28318530717958647692528676655900577);
}
DEF_PRIM(num_largest) {
  (void)vm;
  RETURN_NUM(DBL_MAX);
}
DEF_PRIM(num_smallest) {
  (void)vm;
  RETURN_NUM(DBL_MIN);
}
DEF_PRIM(num_maxSafeInteger) {
  (void)vm;
  RETURN_NUM(9007199254740991.0);
}
DEF_PRIM(num_minSafeInteger) {
  (void)vm;
  RETURN_NUM(-9007199254740991.0);
}

#define NUM_INFIX(name, op, type)                                  \
  DEF_PRIM(num_##name) {                                           \
    if (!validate_num(vm, args[1], "Right operand")) return false; \
    RETURN_##type(AS_NUM(args[0]) op AS_NUM(args[1]));             \
  }
NUM_INFIX(minus, -, NUM)
NUM_INFIX(plus, +, NUM)
NUM_INFIX(multiply, *, NUM)
NUM_INFIX(divide, /, NUM)
NUM_INFIX(lt, <, BOOL)
NUM_INFIX(gt, >, BOOL)
NUM_INFIX(lte, <=, BOOL)
NUM_INFIX(gte, >=, BOOL)

#define NUM_BITWISE(name, op)                                             \
  DEF_PRIM(num_bit##name) {                                               \
    if (!validate_num(vm, args[1], "Right operand")) return false;        \
    uint32_t l = to_u32(AS_NUM(args[0]));                                 \
    uint32_t r = to_u32(AS_NUM(args[1]));                                 \
    RETURN_NUM((double)(uint32_t)(l op r));                               \
  }
NUM_BITWISE(and, &)
NUM_BITWISE(or, |)
NUM_BITWISE(xor, ^)

DEF_PRIM(num_shl) {
  if (!validate_num(vm, args[1], "Right operand")) return false;
  uint32_t l = to_u32(AS_NUM(args[0]));
  uint32_t r = to_u32(AS_NUM(args[1]));
  RETURN_NUM(r >= 32 ? 0.0 : (double)(uint32_t)(l << r));
}
DEF_PRIM(num_shr) {
  if (!validate_num(vm, args[1], "Right operand")) return false;
  uint32_t l = to_u32(AS_NUM(args[0]));
  uint32_t r = to_u32(AS_NUM(args[1]));
  RETURN_NUM(r >= 32 ? 0.0 : (double)(uint32_t)(l >> r));
}
DEF_PRIM(num_mod) {
  if (!validate_num(vm, args[1], "Right operand")) return false;
  RETURN_NUM(fmod(AS_NUM(args[0]), AS_NUM(args[1])));
}
DEF_PRIM(num_eqeq) {
  (void)vm;
  if (!IS_NUM(args[1])) RETURN_BOOL(false);
  RETURN_BOOL(AS_NUM(args[0]) == AS_NUM(args[1]));
}
DEF_PRIM(num_bangeq) {
  (void)vm;
  if (!IS_NUM(args[1])) RETURN_BOOL(true);
  RETURN_BOOL(AS_NUM(args[0]) != AS_NUM(args[1]));
}
DEF_PRIM(num_bitnot) {
  (void)vm;
  RETURN_NUM((double)(uint32_t)(~to_u32(AS_NUM(args[0]))));
}
DEF_PRIM(num_negate) {
  (void)vm;
  RETURN_NUM(-AS_NUM(args[0]));
}
DEF_PRIM(num_dotdot) {
  if (!validate_num(vm, args[1], "Right hand side of range")) return false;
  RETURN_VAL(wren_new_range(vm, AS_NUM(args[0]), AS_NUM(args[1]), true));
}
DEF_PRIM(num_dotdotdot) {
  if (!validate_num(vm, args[1], "Right hand side of range")) return false;
  RETURN_VAL(wren_new_range(vm, AS_NUM(args[0]), AS_NUM(args[1]), false));
}

#define NUM_FN(name, expr)                 \
  DEF_PRIM(num_##name) {                   \
    (void)vm;                              \
    double x = AS_NUM(args[0]);            \
    RETURN_NUM(expr);                      \
  }
NUM_FN(abs, fabs(x))
NUM_FN(acos, acos(x))
NUM_FN(asin, asin(x))
NUM_FN(atan, atan(x))
NUM_FN(cbrt, cbrt(x))
NUM_FN(ceil, ceil(x))
NUM_FN(cos, cos(x))
NUM_FN(exp, exp(x))
NUM_FN(floor, floor(x))
NUM_FN(log, log(x))
NUM_FN(log2, log2(x))
NUM_FN(round, round(x))
NUM_FN(sin, sin(x))
NUM_FN(sqrt, sqrt(x))
NUM_FN(tan, tan(x))
NUM_FN(truncate, trunc(x))
NUM_FN(sign, x > 0 ? 1.0 : (x < 0 ? -1.0 : 0.0))

DEF_PRIM(num_fraction) {
  (void)vm;
  double integer;
  RETURN_NUM(modf(AS_NUM(args[0]), &integer));
}
DEF_PRIM(num_isInfinity) {
  (void)vm;
  RETURN_BOOL(isinf(AS_NUM(args[0])));
}
DEF_PRIM(num_isNan) {
  (void)vm;
  RETURN_BOOL(isnan(AS_NUM(args[0])));
}
DEF_PRIM(num_isInteger) {
  (void)vm;
  double x = AS_NUM(args[0]);
  if (isnan(x) || isinf(x)) RETURN_BOOL(false);
  RETURN_BOOL(trunc(x) == x);
}
DEF_PRIM(num_atan2) {
  if (!validate_num(vm, args[1], "x value")) return false;
  RETURN_NUM(atan2(AS_NUM(args[0]), AS_NUM(args[1])));
}
DEF_PRIM(num_min) {
  if (!validate_num(vm, args[1], "Other value")) return false;
  double a = AS_NUM(args[0]);
  double b = AS_NUM(args[1]);
  RETURN_NUM(a <= b ? a : b);
}
DEF_PRIM(num_max) {
  if (!validate_num(vm, args[1], "Other value")) return false;
  double a = AS_NUM(args[0]);
  double b = AS_NUM(args[1]);
  RETURN_NUM(a > b ? a : b);
}
DEF_PRIM(num_clamp) {
  if (!validate_num(vm, args[1], "Min value")) return false;
  if (!validate_num(vm, args[2], "Max value")) return false;
  double v = AS_NUM(args[0]);
  double lo = AS_NUM(args[1]);
  double hi = AS_NUM(args[2]);
  RETURN_NUM(v < lo ? lo : (v > hi ? hi : v));
}
DEF_PRIM(num_pow) {
  if (!validate_num(vm, args[1], "Power value")) return false;
  RETURN_NUM(pow(AS_NUM(args[0]), AS_NUM(args[1])));
}
DEF_PRIM(num_toString) { RETURN_VAL(wren_num_to_string(vm, AS_NUM(args[0]))); }

/* ---- Fn --------------------------------------------------------------- */

DEF_PRIM(fn_new) {
  if (!validate_fn(vm, args[1], "Argument")) return false;
  RETURN_VAL(args[1]);
}
DEF_PRIM(fn_arity) {
  (void)vm;
  RETURN_NUM(AS_CLOSURE(args[0])->fn->arity);
}
DEF_PRIM(fn_toString) { RETURN_VAL(wren_new_string(vm, "<fn>")); }

/* ---- Fiber ------------------------------------------------------------ */

DEF_PRIM(fiber_new) {
  if (!validate_fn(vm, args[1], "Argument")) return false;
  ObjClosure* closure = AS_CLOSURE(args[1]);
  if (closure->fn->arity > 1) RETURN_ERROR("Function cannot take more than one parameter.");
  RETURN_OBJ(wren_new_fiber(vm, closure));
}

DEF_PRIM(fiber_abort) {
  if (IS_NULL(args[1])) RETURN_NULL();
  vm->fiber->error = args[1];
  return false;
}

DEF_PRIM(fiber_current) { RETURN_OBJ(vm->fiber); }

DEF_PRIM(fiber_error) {
  (void)vm;
  RETURN_VAL(AS_FIBER(args[0])->error);
}

DEF_PRIM(fiber_isDone) {
  (void)vm;
  ObjFiber* f = AS_FIBER(args[0]);
  RETURN_BOOL(f->numFrames == 0 || !IS_NULL(f->error));
}

static bool fiber_unstarted(ObjFiber* f) {
  return f->numFrames == 1 && f->frames[0].ip == f->frames[0].closure->fn->code.data;
}

/* Hands `value` to a fiber that is about to run. */
static void fiber_deliver(WrenVM* vm, ObjFiber* target, Value value) {
  (void)vm;
  if (fiber_unstarted(target)) {
    if (target->frames[0].closure->fn->arity == 1 && target->stackTop == target->stack + 1) {
      *target->stackTop++ = value;
    }
  } else if (target->stackTop > target->stack) {
    target->stackTop[-1] = value;
  }
}

static bool run_fiber(WrenVM* vm, Value* args, bool isCall, bool isTry, bool hasValue) {
  ObjFiber* target = AS_FIBER(args[0]);
  const char* verb = isTry ? "try" : "call";
  char buf[64];
  if (!IS_NULL(target->error)) {
    snprintf(buf, sizeof buf, "Cannot %s an aborted fiber.", isCall ? verb : "transfer to");
    if (!isCall) snprintf(buf, sizeof buf, "Cannot transfer to an aborted fiber.");
    RETURN_ERROR(buf);
  }
  if (target->paused) RETURN_ERROR("Cannot run a fiber the host has paused.");
  if (isCall) {
    if (target->caller != NULL || target == vm->fiber) {
      if (target->state == FIBER_ROOT) RETURN_ERROR("Cannot call root fiber.");
      RETURN_ERROR("Fiber has already been called.");
    }
    if (target->state == FIBER_ROOT) RETURN_ERROR("Cannot call root fiber.");
  }
  if (target->numFrames == 0) {
    if (isCall) {
      snprintf(buf, sizeof buf, "Cannot %s a finished fiber.", verb);
    } else {
      snprintf(buf, sizeof buf, "Cannot transfer to a finished fiber.");
    }
    RETURN_ERROR(buf);
  }
  ObjFiber* current = vm->fiber;
  current->stackTop = args + 1;
  if (isCall) {
    target->caller = current;
    target->state = isTry ? FIBER_TRY : FIBER_OTHER;
  }
  fiber_deliver(vm, target, hasValue ? args[1] : NULL_VAL);
  vm->fiber = target;
  return false;
}

DEF_PRIM(fiber_call) { return run_fiber(vm, args, true, false, false); }
DEF_PRIM(fiber_call1) { return run_fiber(vm, args, true, false, true); }
DEF_PRIM(fiber_try) { return run_fiber(vm, args, true, true, false); }
DEF_PRIM(fiber_try1) { return run_fiber(vm, args, true, true, true); }
DEF_PRIM(fiber_transfer) { return run_fiber(vm, args, false, false, false); }
DEF_PRIM(fiber_transfer1) { return run_fiber(vm, args, false, false, true); }

DEF_PRIM(fiber_transferError) {
  ObjFiber* target = AS_FIBER(args[0]);
  if (!IS_NULL(target->error)) RETURN_ERROR("Cannot transfer to an aborted fiber.");
  if (target->numFrames == 0) RETURN_ERROR("Cannot transfer to a finished fiber.");
  vm->fiber->stackTop = args + 1;
  vm->fiber = target;
  target->error = args[1];
  return false;
}

static bool fiber_yield(WrenVM* vm, Value* args, Value value) {
  ObjFiber* current = vm->fiber;
  ObjFiber* caller = current->caller;
  current->caller = NULL;
  current->state = FIBER_OTHER;
  current->stackTop = args + 1;
  vm->fiber = caller;
  if (caller != NULL) caller->stackTop[-1] = value;
  return false;
}

DEF_PRIM(fiber_yield0) { return fiber_yield(vm, args, NULL_VAL); }
DEF_PRIM(fiber_yield1) { return fiber_yield(vm, args, args[1]); }
DEF_PRIM(fiber_suspend) {
  /* The host resumes a suspended fiber with call() or transfer(), so it
     must not stay attached to the caller it had. */
  vm->fiber->caller = NULL;
  vm->fiber->stackTop = args + 1;
  vm->fiber = NULL;
  return false;
}

/* ---- List ------------------------------------------------------------- */

DEF_PRIM(list_new) { RETURN_OBJ(wren_new_list(vm, 0)); }

DEF_PRIM(list_filled) {
  if (!validate_int(vm, args[1], "Size")) return false;
  if (AS_NUM(args[1]) < 0) RETURN_ERROR("Size cannot be negative.");
  double n = AS_NUM(args[1]);
  if (n > 2e9 || !wren_check_alloc(vm, n * sizeof(Value))) {
    if (IS_NULL(vm->fiber->error)) wren_runtime_error_str(vm, "Out of memory.");
    return false;
  }
  ObjList* list = wren_new_list(vm, (int)n);
  for (int i = 0; i < list->elements.count; i++) list->elements.data[i] = args[2];
  RETURN_OBJ(list);
}

DEF_PRIM(list_add) {
  wren_buffer_write_value(vm, &AS_LIST(args[0])->elements, args[1]);
  RETURN_VAL(args[1]);
}

DEF_PRIM(list_addCore) {
  wren_buffer_write_value(vm, &AS_LIST(args[0])->elements, args[1]);
  RETURN_VAL(args[0]);
}

DEF_PRIM(list_clear) {
  wren_buffer_free_value(vm, &AS_LIST(args[0])->elements);
  RETURN_NULL();
}

DEF_PRIM(list_count) {
  (void)vm;
  RETURN_NUM(AS_LIST(args[0])->elements.count);
}

DEF_PRIM(list_insert) {
  ObjList* list = AS_LIST(args[0]);
  uint32_t index = validate_index(vm, args[1], (uint32_t)list->elements.count + 1, "Index");
  if (index == UINT32_MAX) return false;
  wren_list_insert(vm, list, args[2], (int)index);
  RETURN_VAL(args[2]);
}

DEF_PRIM(list_iterate) {
  ObjList* list = AS_LIST(args[0]);
  if (IS_NULL(args[1])) {
    if (list->elements.count == 0) RETURN_BOOL(false);
    RETURN_NUM(0);
  }
  if (!validate_int(vm, args[1], "Iterator")) return false;
  double index = AS_NUM(args[1]);
  if (index < 0 || index >= list->elements.count - 1) RETURN_BOOL(false);
  RETURN_NUM(index + 1);
}

DEF_PRIM(list_iteratorValue) {
  ObjList* list = AS_LIST(args[0]);
  uint32_t index = validate_index(vm, args[1], (uint32_t)list->elements.count, "Iterator");
  if (index == UINT32_MAX) return false;
  RETURN_VAL(list->elements.data[index]);
}

DEF_PRIM(list_removeAt) {
  ObjList* list = AS_LIST(args[0]);
  uint32_t index = validate_index(vm, args[1], (uint32_t)list->elements.count, "Index");
  if (index == UINT32_MAX) return false;
  RETURN_VAL(wren_list_remove_at(vm, list, (int)index));
}

DEF_PRIM(list_remove) {
  ObjList* list = AS_LIST(args[0]);
  for (int i = 0; i < list->elements.count; i++) {
    if (wren_values_equal(list->elements.data[i], args[1])) {
      RETURN_VAL(wren_list_remove_at(vm, list, i));
    }
  }
  RETURN_NULL();
}

DEF_PRIM(list_indexOf) {
  (void)vm;
  ObjList* list = AS_LIST(args[0]);
  for (int i = 0; i < list->elements.count; i++) {
    if (wren_values_equal(list->elements.data[i], args[1])) RETURN_NUM(i);
  }
  RETURN_NUM(-1);
}

DEF_PRIM(list_swap) {
  ObjList* list = AS_LIST(args[0]);
  uint32_t a = validate_index(vm, args[1], (uint32_t)list->elements.count, "Index 0");
  if (a == UINT32_MAX) return false;
  uint32_t b = validate_index(vm, args[2], (uint32_t)list->elements.count, "Index 1");
  if (b == UINT32_MAX) return false;
  Value t = list->elements.data[a];
  list->elements.data[a] = list->elements.data[b];
  list->elements.data[b] = t;
  RETURN_NULL();
}

DEF_PRIM(list_subscript) {
  ObjList* list = AS_LIST(args[0]);
  if (IS_NUM(args[1])) {
    uint32_t index = validate_index(vm, args[1], (uint32_t)list->elements.count, "Subscript");
    if (index == UINT32_MAX) return false;
    RETURN_VAL(list->elements.data[index]);
  }
  if (!IS_RANGE(args[1])) RETURN_ERROR("Subscript must be a number or a range.");
  int step;
  uint32_t count = (uint32_t)list->elements.count;
  uint32_t start = calculate_range(vm, AS_RANGE(args[1]), &count, &step);
  if (start == UINT32_MAX) return false;
  ObjList* result = wren_new_list(vm, (int)count);
  for (uint32_t i = 0; i < count; i++) {
    result->elements.data[i] = list->elements.data[(int)start + (int)i * step];
  }
  RETURN_OBJ(result);
}

DEF_PRIM(list_subscriptSetter) {
  ObjList* list = AS_LIST(args[0]);
  uint32_t index = validate_index(vm, args[1], (uint32_t)list->elements.count, "Subscript");
  if (index == UINT32_MAX) return false;
  list->elements.data[index] = args[2];
  RETURN_VAL(args[2]);
}

DEF_PRIM(list_repeat) {
  ObjList* list = AS_LIST(args[0]);
  double times = AS_NUM(args[1]);
  double total = times * list->elements.count;
  if (total > 2e9 || !wren_check_alloc(vm, total * sizeof(Value))) {
    if (IS_NULL(vm->fiber->error)) wren_runtime_error_str(vm, "Out of memory.");
    return false;
  }
  ObjList* result = wren_new_list(vm, (int)total);
  int n = list->elements.count;
  for (int t = 0; t < (int)times; t++) {
    for (int i = 0; i < n; i++) result->elements.data[t * n + i] = list->elements.data[i];
  }
  RETURN_OBJ(result);
}

DEF_PRIM(list_joinStrings) {
  ObjList* list = AS_LIST(args[0]);
  if (!validate_string(vm, args[1], "Separator")) return false;
  ObjString* sep = AS_STRING(args[1]);
  double total = 0;
  for (int i = 0; i < list->elements.count; i++) {
    Value v = list->elements.data[i];
    if (!IS_STRING(v)) RETURN_ERROR("Right operand must be a string.");
    total += AS_STRING(v)->length;
    if (i > 0) total += sep->length;
  }
  if (total > 4e9 || !wren_check_alloc(vm, total)) {
    if (IS_NULL(vm->fiber->error)) wren_runtime_error_str(vm, "Out of memory.");
    return false;
  }
  ObjString* result = wren_alloc_obj_string(vm, (size_t)total);
  char* out = result->value;
  for (int i = 0; i < list->elements.count; i++) {
    if (i > 0) {
      memcpy(out, sep->value, sep->length);
      out += sep->length;
    }
    ObjString* s = AS_STRING(list->elements.data[i]);
    memcpy(out, s->value, s->length);
    out += s->length;
  }
  wren_hash_string(result);
  RETURN_OBJ(result);
}

/* ---- Map -------------------------------------------------------------- */

DEF_PRIM(map_new) { RETURN_OBJ(wren_new_map(vm)); }

DEF_PRIM(map_subscript) {
  if (!validate_key(vm, args[1])) return false;
  Value v = wren_map_get(AS_MAP(args[0]), args[1]);
  if (IS_UNDEFINED(v)) RETURN_NULL();
  RETURN_VAL(v);
}

DEF_PRIM(map_subscriptSetter) {
  if (!validate_key(vm, args[1])) return false;
  wren_map_set(vm, AS_MAP(args[0]), args[1], args[2]);
  RETURN_VAL(args[2]);
}

DEF_PRIM(map_addCore) {
  if (!validate_key(vm, args[1])) return false;
  wren_map_set(vm, AS_MAP(args[0]), args[1], args[2]);
  RETURN_VAL(args[0]);
}

DEF_PRIM(map_clear) {
  wren_map_clear(vm, AS_MAP(args[0]));
  RETURN_NULL();
}

DEF_PRIM(map_containsKey) {
  if (!validate_key(vm, args[1])) return false;
  RETURN_BOOL(!IS_UNDEFINED(wren_map_get(AS_MAP(args[0]), args[1])));
}

DEF_PRIM(map_count) {
  (void)vm;
  RETURN_NUM(AS_MAP(args[0])->count);
}

DEF_PRIM(map_remove) {
  if (!validate_key(vm, args[1])) return false;
  RETURN_VAL(wren_map_remove(vm, AS_MAP(args[0]), args[1]));
}

DEF_PRIM(map_iterate) {
  ObjMap* map = AS_MAP(args[0]);
  if (map->count == 0) RETURN_BOOL(false);
  double index = 0;
  if (!IS_NULL(args[1])) {
    if (!validate_int(vm, args[1], "Iterator")) return false;
    if (AS_NUM(args[1]) < 0) RETURN_BOOL(false);
    index = AS_NUM(args[1]) + 1;
  }
  for (uint32_t i = (index > (double)map->capacity) ? map->capacity : (uint32_t)index;
       i < map->capacity; i++) {
    if (!IS_UNDEFINED(map->entries[i].key)) RETURN_NUM(i);
  }
  RETURN_BOOL(false);
}

static MapEntry* map_entry_at(WrenVM* vm, Value* args) {
  ObjMap* map = AS_MAP(args[0]);
  uint32_t index = validate_index(vm, args[1], map->capacity, "Iterator");
  if (index == UINT32_MAX) return NULL;
  MapEntry* e = &map->entries[index];
  if (IS_UNDEFINED(e->key)) {
    wren_runtime_error_str(vm, "Invalid map iterator.");
    return NULL;
  }
  return e;
}

DEF_PRIM(map_keyIteratorValue) {
  MapEntry* e = map_entry_at(vm, args);
  if (e == NULL) return false;
  RETURN_VAL(e->key);
}

DEF_PRIM(map_valueIteratorValue) {
  MapEntry* e = map_entry_at(vm, args);
  if (e == NULL) return false;
  RETURN_VAL(e->value);
}

/* ---- Range ------------------------------------------------------------ */

DEF_PRIM(range_from) {
  (void)vm;
  RETURN_NUM(AS_RANGE(args[0])->from);
}
DEF_PRIM(range_to) {
  (void)vm;
  RETURN_NUM(AS_RANGE(args[0])->to);
}
DEF_PRIM(range_min) {
  (void)vm;
  ObjRange* r = AS_RANGE(args[0]);
  RETURN_NUM(fmin(r->from, r->to));
}
DEF_PRIM(range_max) {
  (void)vm;
  ObjRange* r = AS_RANGE(args[0]);
  RETURN_NUM(fmax(r->from, r->to));
}
DEF_PRIM(range_isInclusive) {
  (void)vm;
  RETURN_BOOL(AS_RANGE(args[0])->isInclusive);
}

DEF_PRIM(range_iterate) {
  ObjRange* r = AS_RANGE(args[0]);
  if (IS_NULL(args[1])) {
    if (r->from == r->to && !r->isInclusive) RETURN_BOOL(false);
    RETURN_NUM(r->from);
  }
  if (!validate_num(vm, args[1], "Iterator")) return false;
  double it = AS_NUM(args[1]);
  if (r->from < r->to) {
    it++;
    if (it > r->to) RETURN_BOOL(false);
    if (!r->isInclusive && it == r->to) RETURN_BOOL(false);
  } else {
    it--;
    if (it < r->to) RETURN_BOOL(false);
    if (!r->isInclusive && it == r->to) RETURN_BOOL(false);
  }
  RETURN_NUM(it);
}

DEF_PRIM(range_iteratorValue) {
  (void)vm;
  RETURN_VAL(args[1]);
}

DEF_PRIM(range_toString) {
  ObjRange* r = AS_RANGE(args[0]);
  Value from = wren_num_to_string(vm, r->from);
  wren_push_root(vm, AS_OBJ(from));
  Value to = wren_num_to_string(vm, r->to);
  wren_push_root(vm, AS_OBJ(to));
  Value result = wren_string_format(vm, "@$@", from, r->isInclusive ? ".." : "...", to);
  wren_pop_root(vm);
  wren_pop_root(vm);
  RETURN_VAL(result);
}

/* ---- String ----------------------------------------------------------- */

DEF_PRIM(string_fromCodePoint) {
  if (!validate_int(vm, args[1], "Code point")) return false;
  double cp = AS_NUM(args[1]);
  if (cp < 0) RETURN_ERROR("Code point cannot be negative.");
  if (cp > 0x10ffff) RETURN_ERROR("Code point cannot be greater than 0x10ffff.");
  RETURN_VAL(wren_string_from_code_point(vm, (int)cp));
}

DEF_PRIM(string_fromByte) {
  if (!validate_int(vm, args[1], "Byte")) return false;
  double b = AS_NUM(args[1]);
  if (b < 0) RETURN_ERROR("Byte cannot be negative.");
  if (b > 0xff) RETURN_ERROR("Byte cannot be greater than 0xff.");
  RETURN_VAL(wren_string_from_byte(vm, (uint8_t)b));
}

DEF_PRIM(string_byteAt) {
  ObjString* s = AS_STRING(args[0]);
  uint32_t index = validate_index(vm, args[1], s->length, "Index");
  if (index == UINT32_MAX) return false;
  RETURN_NUM((uint8_t)s->value[index]);
}

DEF_PRIM(string_byteCount) {
  (void)vm;
  RETURN_NUM(AS_STRING(args[0])->length);
}

DEF_PRIM(string_codePointAt) {
  ObjString* s = AS_STRING(args[0]);
  uint32_t index = validate_index(vm, args[1], s->length, "Index");
  if (index == UINT32_MAX) return false;
  const uint8_t* b = (const uint8_t*)s->value + index;
  if ((*b & 0xc0) == 0x80) RETURN_NUM(-1);
  RETURN_NUM(wren_utf8_decode(b, s->length - index));
}

static uint32_t next_code_point(ObjString* s, uint32_t index) {
  index++;
  while (index < s->length && ((uint8_t)s->value[index] & 0xc0) == 0x80) index++;
  return index;
}

DEF_PRIM(string_count) {
  (void)vm;
  ObjString* s = AS_STRING(args[0]);
  uint32_t n = 0;
  for (uint32_t i = 0; i < s->length; i = next_code_point(s, i)) n++;
  RETURN_NUM(n);
}

DEF_PRIM(string_contains) {
  if (!validate_string(vm, args[1], "Argument")) return false;
  RETURN_BOOL(wren_string_find(AS_STRING(args[0]), AS_STRING(args[1]), 0) != UINT32_MAX);
}

DEF_PRIM(string_endsWith) {
  if (!validate_string(vm, args[1], "Argument")) return false;
  ObjString* s = AS_STRING(args[0]);
  ObjString* t = AS_STRING(args[1]);
  if (t->length > s->length) RETURN_BOOL(false);
  RETURN_BOOL(memcmp(s->value + s->length - t->length, t->value, t->length) == 0);
}

DEF_PRIM(string_startsWith) {
  if (!validate_string(vm, args[1], "Argument")) return false;
  ObjString* s = AS_STRING(args[0]);
  ObjString* t = AS_STRING(args[1]);
  if (t->length > s->length) RETURN_BOOL(false);
  RETURN_BOOL(memcmp(s->value, t->value, t->length) == 0);
}

DEF_PRIM(string_indexOf1) {
  if (!validate_string(vm, args[1], "Argument")) return false;
  uint32_t i = wren_string_find(AS_STRING(args[0]), AS_STRING(args[1]), 0);
  RETURN_NUM(i == UINT32_MAX ? -1 : (double)i);
}

DEF_PRIM(string_indexOf2) {
  if (!validate_string(vm, args[1], "Argument")) return false;
  ObjString* s = AS_STRING(args[0]);
  uint32_t start = validate_index(vm, args[2], s->length, "Start");
  if (start == UINT32_MAX) return false;
  uint32_t i = wren_string_find(s, AS_STRING(args[1]), start);
  RETURN_NUM(i == UINT32_MAX ? -1 : (double)i);
}

DEF_PRIM(string_iterate) {
  ObjString* s = AS_STRING(args[0]);
  if (IS_NULL(args[1])) {
    if (s->length == 0) RETURN_BOOL(false);
    RETURN_NUM(0);
  }
  if (!validate_int(vm, args[1], "Iterator")) return false;
  double d = AS_NUM(args[1]);
  if (d < 0) RETURN_BOOL(false);
  if (d >= s->length) RETURN_BOOL(false);
  uint32_t next = next_code_point(s, (uint32_t)d);
  if (next >= s->length) RETURN_BOOL(false);
  RETURN_NUM(next);
}

DEF_PRIM(string_iterateByte) {
  ObjString* s = AS_STRING(args[0]);
  if (IS_NULL(args[1])) {
    if (s->length == 0) RETURN_BOOL(false);
    RETURN_NUM(0);
  }
  if (!validate_int(vm, args[1], "Iterator")) return false;
  double d = AS_NUM(args[1]);
  if (d < 0 || d >= (double)s->length - 1) RETURN_BOOL(false);
  RETURN_NUM(d + 1);
}

DEF_PRIM(string_iteratorValue) {
  ObjString* s = AS_STRING(args[0]);
  uint32_t index = validate_index(vm, args[1], s->length, "Iterator");
  if (index == UINT32_MAX) return false;
  RETURN_VAL(wren_string_code_point_at(vm, s, index));
}

DEF_PRIM(string_plus) {
  if (!validate_string(vm, args[1], "Right operand")) return false;
  ObjString* a = AS_STRING(args[0]);
  ObjString* b = AS_STRING(args[1]);
  if (!wren_check_alloc(vm, (double)a->length + b->length)) return false;
  ObjString* r = wren_alloc_obj_string(vm, (size_t)a->length + b->length);
  memcpy(r->value, a->value, a->length);
  memcpy(r->value + a->length, b->value, b->length);
  wren_hash_string(r);
  RETURN_OBJ(r);
}

DEF_PRIM(string_times) {
  ObjString* s = AS_STRING(args[0]);
  if (!IS_NUM(args[1]) || trunc(AS_NUM(args[1])) != AS_NUM(args[1]) || AS_NUM(args[1]) < 0 ||
      isinf(AS_NUM(args[1]))) {
    RETURN_ERROR("Count must be a non-negative integer.");
  }
  double total = AS_NUM(args[1]) * s->length;
  if (total > 4e9 || !wren_check_alloc(vm, total)) {
    if (IS_NULL(vm->fiber->error)) wren_runtime_error_str(vm, "Out of memory.");
    return false;
  }
  ObjString* r = wren_alloc_obj_string(vm, (size_t)total);
  uint32_t times = (uint32_t)AS_NUM(args[1]);
  for (uint32_t i = 0; i < times && s->length > 0; i++) {
    memcpy(r->value + (size_t)i * s->length, s->value, s->length);
  }
  wren_hash_string(r);
  RETURN_OBJ(r);
}

DEF_PRIM(string_eqeq) {
  (void)vm;
  if (!IS_STRING(args[1])) RETURN_BOOL(false);
  RETURN_BOOL(wren_strings_equal(AS_STRING(args[0]), AS_STRING(args[1])));
}

DEF_PRIM(string_bangeq) {
  (void)vm;
  if (!IS_STRING(args[1])) RETURN_BOOL(true);
  RETURN_BOOL(!wren_strings_equal(AS_STRING(args[0]), AS_STRING(args[1])));
}

DEF_PRIM(string_subscript) {
  ObjString* s = AS_STRING(args[0]);
  if (IS_NUM(args[1])) {
    uint32_t index = validate_index(vm, args[1], s->length, "Subscript");
    if (index == UINT32_MAX) return false;
    RETURN_VAL(wren_string_code_point_at(vm, s, index));
  }
  if (!IS_RANGE(args[1])) RETURN_ERROR("Subscript must be a number or a range.");
  int step;
  uint32_t count = s->length;
  uint32_t start = calculate_range(vm, AS_RANGE(args[1]), &count, &step);
  if (start == UINT32_MAX) return false;
  RETURN_VAL(wren_string_from_range(vm, s, (int)start, count, step));
}

DEF_PRIM(string_toString) {
  (void)vm;
  RETURN_VAL(args[0]);
}

DEF_PRIM(string_replace) {
  if (!IS_STRING(args[1]) || AS_STRING(args[1])->length == 0) {
    RETURN_ERROR("From must be a non-empty string.");
  }
  if (!validate_string(vm, args[2], "To")) return false;
  ObjString* s = AS_STRING(args[0]);
  ObjString* from = AS_STRING(args[1]);
  ObjString* to = AS_STRING(args[2]);
  uint32_t count = 0;
  for (uint32_t i = wren_string_find(s, from, 0); i != UINT32_MAX;
       i = wren_string_find(s, from, i + from->length)) {
    count++;
  }
  double total = (double)s->length + (double)count * ((double)to->length - (double)from->length);
  if (!wren_check_alloc(vm, total)) return false;
  ObjString* r = wren_alloc_obj_string(vm, (size_t)total);
  char* out = r->value;
  uint32_t last = 0;
  for (uint32_t i = wren_string_find(s, from, 0); i != UINT32_MAX;
       i = wren_string_find(s, from, i + from->length)) {
    memcpy(out, s->value + last, i - last);
    out += i - last;
    memcpy(out, to->value, to->length);
    out += to->length;
    last = i + from->length;
  }
  memcpy(out, s->value + last, s->length - last);
  wren_hash_string(r);
  RETURN_OBJ(r);
}

DEF_PRIM(string_split) {
  if (!IS_STRING(args[1]) || AS_STRING(args[1])->length == 0) {
    RETURN_ERROR("Delimiter must be a non-empty string.");
  }
  ObjString* s = AS_STRING(args[0]);
  ObjString* delim = AS_STRING(args[1]);
  ObjList* result = wren_new_list(vm, 0);
  wren_push_root(vm, &result->obj);
  uint32_t last = 0;
  for (;;) {
    uint32_t i = wren_string_find(s, delim, last);
    if (i == UINT32_MAX) break;
    Value part = wren_new_string_length(vm, s->value + last, i - last);
    wren_list_insert(vm, result, part, result->elements.count);
    last = i + delim->length;
  }
  Value part = wren_new_string_length(vm, s->value + last, s->length - last);
  wren_list_insert(vm, result, part, result->elements.count);
  wren_pop_root(vm);
  RETURN_OBJ(result);
}

static bool trim_contains(ObjString* chars, const char* bytes, int n) {
  if (chars == NULL) {
    return n == 1 && (bytes[0] == ' ' || bytes[0] == '\t' || bytes[0] == '\r' || bytes[0] == '\n');
  }
  for (uint32_t i = 0; i + (uint32_t)n <= chars->length; i++) {
    if (memcmp(chars->value + i, bytes, (size_t)n) == 0) return true;
  }
  return false;
}

static int cp_length_at(ObjString* s, uint32_t i) {
  int cp = wren_utf8_decode((const uint8_t*)s->value + i, s->length - i);
  if (cp == -1) return 1;
  return wren_utf8_encode_num_bytes(cp);
}

static bool do_trim(WrenVM* vm, Value* args, bool trimStart, bool trimEnd, bool hasChars) {
  ObjString* chars = NULL;
  if (hasChars) {
    if (!validate_string(vm, args[1], "Characters")) return false;
    chars = AS_STRING(args[1]);
  }
  ObjString* s = AS_STRING(args[0]);
  uint32_t start = 0;
  uint32_t end = s->length;
  if (trimStart) {
    while (start < end) {
      int n = cp_length_at(s, start);
      if (!trim_contains(chars, s->value + start, n)) break;
      start += (uint32_t)n;
    }
  }
  if (trimEnd) {
    while (end > start) {
      /* Find the start of the last code point. */
      uint32_t cpStart = end - 1;
      while (cpStart > start && ((uint8_t)s->value[cpStart] & 0xc0) == 0x80) cpStart--;
      int n = cp_length_at(s, cpStart);
      if (cpStart + (uint32_t)n != end) {
        cpStart = end - 1;
        n = 1;
      }
      if (!trim_contains(chars, s->value + cpStart, n)) break;
      end = cpStart;
    }
  }
  RETURN_VAL(wren_new_string_length(vm, s->value + start, end - start));
}

DEF_PRIM(string_trim) { return do_trim(vm, args, true, true, false); }
DEF_PRIM(string_trim1) { return do_trim(vm, args, true, true, true); }
DEF_PRIM(string_trimStart) { return do_trim(vm, args, true, false, false); }
DEF_PRIM(string_trimStart1) { return do_trim(vm, args, true, false, true); }
DEF_PRIM(string_trimEnd) { return do_trim(vm, args, false, true, false); }
DEF_PRIM(string_trimEnd1) { return do_trim(vm, args, false, true, true); }

/* ---- System ----------------------------------------------------------- */

DEF_PRIM(system_clock) { RETURN_NUM(wren_clock_seconds() - vm->startClock); }

DEF_PRIM(system_gc) {
  wren_collect(vm);
  RETURN_NULL();
}

DEF_PRIM(system_writeString) {
  if (IS_STRING(args[1])) wren_write(vm, AS_CSTRING(args[1]));
  RETURN_VAL(args[1]);
}

/* ---- set-up ----------------------------------------------------------- */

static ObjClass* define_class(WrenVM* vm, ObjModule* module, const char* name) {
  Value nameString = wren_new_string(vm, name);
  wren_push_root(vm, AS_OBJ(nameString));
  ObjClass* cls = wren_new_single_class(vm, 0, AS_STRING(nameString));
  wren_define_variable(vm, module, name, strlen(name), OBJ_VAL(cls));
  wren_pop_root(vm);
  return cls;
}

static ObjClass* core_class(WrenVM* vm, const char* name) {
  Value v = wren_find_variable(vm, vm->coreModule, name);
  return AS_CLASS(v);
}

void wren_initialize_core(WrenVM* vm) {
  ObjModule* core = wren_new_module(vm, NULL);
  vm->coreModule = core;

  vm->objectClass = define_class(vm, core, "Object");
  PRIM(vm->objectClass, "!", object_not);
  PRIM(vm->objectClass, "==(_)", object_eqeq);
  PRIM(vm->objectClass, "!=(_)", object_bangeq);
  PRIM(vm->objectClass, "is(_)", object_is);
  PRIM(vm->objectClass, "toString", object_toString);
  PRIM(vm->objectClass, "type", object_type);

  vm->classClass = define_class(vm, core, "Class");
  wren_bind_superclass(vm, vm->classClass, vm->objectClass);
  PRIM(vm->classClass, "name", class_name);
  PRIM(vm->classClass, "supertype", class_supertype);
  PRIM(vm->classClass, "toString", class_name);
  PRIM(vm->classClass, "attributes", class_attributes);

  ObjClass* objectMeta = define_class(vm, core, "Object metaclass");
  vm->objectClass->obj.classObj = objectMeta;
  objectMeta->obj.classObj = vm->classClass;
  vm->classClass->obj.classObj = vm->classClass;
  wren_bind_superclass(vm, objectMeta, vm->classClass);
  PRIM(objectMeta, "same(_,_)", object_same);

  wren_run_core_source(vm, coreModuleSource);

  vm->boolClass = core_class(vm, "Bool");
  PRIM(vm->boolClass, "toString", bool_toString);
  PRIM(vm->boolClass, "!", bool_not);

  vm->fiberClass = core_class(vm, "Fiber");
  ObjClass* fiberMeta = vm->fiberClass->obj.classObj;
  PRIM(fiberMeta, "new(_)", fiber_new);
  PRIM(fiberMeta, "abort(_)", fiber_abort);
  PRIM(fiberMeta, "current", fiber_current);
  PRIM(fiberMeta, "suspend()", fiber_suspend);
  PRIM(fiberMeta, "yield()", fiber_yield0);
  PRIM(fiberMeta, "yield(_)", fiber_yield1);
  PRIM(vm->fiberClass, "call()", fiber_call);
  PRIM(vm->fiberClass, "call(_)", fiber_call1);
  PRIM(vm->fiberClass, "error", fiber_error);
  PRIM(vm->fiberClass, "isDone", fiber_isDone);
  PRIM(vm->fiberClass, "transfer()", fiber_transfer);
  PRIM(vm->fiberClass, "transfer(_)", fiber_transfer1);
  PRIM(vm->fiberClass, "transferError(_)", fiber_transferError);
  PRIM(vm->fiberClass, "try()", fiber_try);
  PRIM(vm->fiberClass, "try(_)", fiber_try1);

  vm->fnClass = core_class(vm, "Fn");
  PRIM(vm->fnClass->obj.classObj, "new(_)", fn_new);
  PRIM(vm->fnClass, "arity", fn_arity);
  PRIM(vm->fnClass, "toString", fn_toString);
  {
    char name[64] = "call(";
    bind_fn_call(vm, vm->fnClass, "call()");
    for (int i = 1; i <= MAX_PARAMETERS; i++) {
      int n = 5;
      for (int j = 0; j < i; j++) {
        if (j > 0) name[n++] = ',';
        name[n++] = '_';
      }
      name[n++] = ')';
      name[n] = '\0';
      bind_fn_call(vm, vm->fnClass, name);
    }
  }

  vm->nullClass = core_class(vm, "Null");
  PRIM(vm->nullClass, "!", null_not);
  PRIM(vm->nullClass, "toString", null_toString);

  vm->numClass = core_class(vm, "Num");
  ObjClass* numMeta = vm->numClass->obj.classObj;
  PRIM(numMeta, "fromString(_)", num_fromString);
  PRIM(numMeta, "infinity", num_infinity);
  PRIM(numMeta, "nan", num_nan);
  PRIM(numMeta, "pi", num_pi);
  PRIM(numMeta, "tau", num_tau);
  PRIM(numMeta, "largest", num_largest);
  PRIM(numMeta, "smallest", num_smallest);
  PRIM(numMeta, "maxSafeInteger", num_maxSafeInteger);
  PRIM(numMeta, "minSafeInteger", num_minSafeInteger);
  ObjClass* num = vm->numClass;
  PRIM(num, "-(_)", num_minus);
  PRIM(num, "+(_)", num_plus);
  PRIM(num, "*(_)", num_multiply);
  PRIM(num, "/(_)", num_divide);
  PRIM(num, "<(_)", num_lt);
  PRIM(num, ">(_)", num_gt);
  PRIM(num, "<=(_)", num_lte);
  PRIM(num, ">=(_)", num_gte);
  PRIM(num, "&(_)", num_bitand);
  PRIM(num, "|(_)", num_bitor);
  PRIM(num, "^(_)", num_bitxor);
  PRIM(num, "<<(_)", num_shl);
  PRIM(num, ">>(_)", num_shr);
  PRIM(num, "%(_)", num_mod);
  PRIM(num, "==(_)", num_eqeq);
  PRIM(num, "!=(_)", num_bangeq);
  PRIM(num, "~", num_bitnot);
  PRIM(num, "-", num_negate);
  PRIM(num, "..(_)", num_dotdot);
  PRIM(num, "...(_)", num_dotdotdot);
  PRIM(num, "abs", num_abs);
  PRIM(num, "acos", num_acos);
  PRIM(num, "asin", num_asin);
  PRIM(num, "atan", num_atan);
  PRIM(num, "atan(_)", num_atan2);
  PRIM(num, "cbrt", num_cbrt);
  PRIM(num, "ceil", num_ceil);
  PRIM(num, "cos", num_cos);
  PRIM(num, "exp", num_exp);
  PRIM(num, "floor", num_floor);
  PRIM(num, "fraction", num_fraction);
  PRIM(num, "isInfinity", num_isInfinity);
  PRIM(num, "isInteger", num_isInteger);
  PRIM(num, "isNan", num_isNan);
  PRIM(num, "log", num_log);
  PRIM(num, "log2", num_log2);
  PRIM(num, "min(_)", num_min);
  PRIM(num, "max(_)", num_max);
  PRIM(num, "clamp(_,_)", num_clamp);
  PRIM(num, "pow(_)", num_pow);
  PRIM(num, "round", num_round);
  PRIM(num, "sign", num_sign);
  PRIM(num, "sin", num_sin);
  PRIM(num, "sqrt", num_sqrt);
  PRIM(num, "tan", num_tan);
  PRIM(num, "toString", num_toString);
  PRIM(num, "truncate", num_truncate);

  vm->stringClass = core_class(vm, "String");
  ObjClass* str = vm->stringClass;
  PRIM(str->obj.classObj, "fromCodePoint(_)", string_fromCodePoint);
  PRIM(str->obj.classObj, "fromByte(_)", string_fromByte);
  PRIM(str, "+(_)", string_plus);
  PRIM(str, "*(_)", string_times);
  PRIM(str, "==(_)", string_eqeq);
  PRIM(str, "!=(_)", string_bangeq);
  PRIM(str, "[_]", string_subscript);
  PRIM(str, "byteAt_(_)", string_byteAt);
  PRIM(str, "byteCount_", string_byteCount);
  PRIM(str, "codePointAt_(_)", string_codePointAt);
  PRIM(str, "contains(_)", string_contains);
  PRIM(str, "count", string_count);
  PRIM(str, "endsWith(_)", string_endsWith);
  PRIM(str, "indexOf(_)", string_indexOf1);
  PRIM(str, "indexOf(_,_)", string_indexOf2);
  PRIM(str, "iterate(_)", string_iterate);
  PRIM(str, "iterateByte_(_)", string_iterateByte);
  PRIM(str, "iteratorValue(_)", string_iteratorValue);
  PRIM(str, "replace(_,_)", string_replace);
  PRIM(str, "split(_)", string_split);
  PRIM(str, "startsWith(_)", string_startsWith);
  PRIM(str, "toString", string_toString);
  PRIM(str, "trim()", string_trim);
  PRIM(str, "trim(_)", string_trim1);
  PRIM(str, "trimEnd()", string_trimEnd);
  PRIM(str, "trimEnd(_)", string_trimEnd1);
  PRIM(str, "trimStart()", string_trimStart);
  PRIM(str, "trimStart(_)", string_trimStart1);

  vm->listClass = core_class(vm, "List");
  ObjClass* list = vm->listClass;
  PRIM(list->obj.classObj, "filled(_,_)", list_filled);
  PRIM(list->obj.classObj, "new()", list_new);
  PRIM(list, "[_]", list_subscript);
  PRIM(list, "[_]=(_)", list_subscriptSetter);
  PRIM(list, "add(_)", list_add);
  PRIM(list, "addCore_(_)", list_addCore);
  PRIM(list, "clear()", list_clear);
  PRIM(list, "count", list_count);
  PRIM(list, "insert(_,_)", list_insert);
  PRIM(list, "iterate(_)", list_iterate);
  PRIM(list, "iteratorValue(_)", list_iteratorValue);
  PRIM(list, "removeAt(_)", list_removeAt);
  PRIM(list, "remove(_)", list_remove);
  PRIM(list, "indexOf(_)", list_indexOf);
  PRIM(list, "swap(_,_)", list_swap);
  PRIM(list, "repeat_(_)", list_repeat);
  PRIM(list, "joinStrings_(_)", list_joinStrings);

  vm->mapClass = core_class(vm, "Map");
  ObjClass* map = vm->mapClass;
  PRIM(map->obj.classObj, "new()", map_new);
  PRIM(map, "[_]", map_subscript);
  PRIM(map, "[_]=(_)", map_subscriptSetter);
  PRIM(map, "addCore_(_,_)", map_addCore);
  PRIM(map, "clear()", map_clear);
  PRIM(map, "containsKey(_)", map_containsKey);
  PRIM(map, "count", map_count);
  PRIM(map, "remove(_)", map_remove);
  PRIM(map, "iterate(_)", map_iterate);
  PRIM(map, "keyIteratorValue_(_)", map_keyIteratorValue);
  PRIM(map, "valueIteratorValue_(_)", map_valueIteratorValue);

  vm->rangeClass = core_class(vm, "Range");
  ObjClass* range = vm->rangeClass;
  PRIM(range, "from", range_from);
  PRIM(range, "to", range_to);
  PRIM(range, "min", range_min);
  PRIM(range, "max", range_max);
  PRIM(range, "isInclusive", range_isInclusive);
  PRIM(range, "iterate(_)", range_iterate);
  PRIM(range, "iteratorValue(_)", range_iteratorValue);
  PRIM(range, "toString", range_toString);

  ObjClass* systemMeta = core_class(vm, "System")->obj.classObj;
  PRIM(systemMeta, "clock", system_clock);
  PRIM(systemMeta, "gc()", system_gc);
  PRIM(systemMeta, "writeString_(_)", system_writeString);

  /* Objects created before their class existed get it now. */
  for (Obj* obj = vm->first; obj != NULL; obj = obj->next) {
    if (obj->classObj != NULL) continue;
    switch (obj->type) {
      case OBJ_STRING: obj->classObj = vm->stringClass; break;
      case OBJ_FN:
      case OBJ_CLOSURE: obj->classObj = vm->fnClass; break;
      case OBJ_LIST: obj->classObj = vm->listClass; break;
      case OBJ_MAP: obj->classObj = vm->mapClass; break;
      case OBJ_FIBER: obj->classObj = vm->fiberClass; break;
      case OBJ_RANGE: obj->classObj = vm->rangeClass; break;
      default: break;
    }
  }
}
