/* Object model, memory accounting and the mark-sweep collector. */
#include <math.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdarg.h>
#include <stdlib.h>

#include "wren_internal.h"

/* ---- memory ----------------------------------------------------------- */

void* wren_reallocate(WrenVM* vm, void* memory, size_t oldSize, size_t newSize) {
  if (newSize > oldSize) {
    size_t grow = newSize - oldSize;
    vm->bytesAllocated += grow;
#ifdef WREN_GC_STRESS
    if (vm->nextGC != (size_t)-1) wren_collect(vm);
#endif
    if (vm->bytesAllocated > vm->nextGC) wren_collect(vm);
    if (vm->config.maxHeapSize != 0 && vm->bytesAllocated > vm->config.maxHeapSize) {
      vm->memoryExceeded = true;
    }
  } else {
    vm->bytesAllocated -= oldSize - newSize;
  }
  if (newSize == 0 && memory == NULL) return NULL;
#ifdef WREN_POOL
  if (vm->usePool) {
    if (memory == NULL) {
      /* glibc's chunks: 32, 48, 64 ... bytes, 8 of them its own. */
      size_t chunk = (newSize + 8 + 15) & ~(size_t)15;
      size_t k = chunk < 32 ? 0 : chunk / 16 - 2;
      if (k < POOL_CLASSES && vm->pool[k] != NULL) {
        PoolBlock* block = vm->pool[k];
        vm->pool[k] = block->next;
        vm->poolBytes -= (k + 2) * 16;
        return block;
      }
    } else if (newSize == 0) {
      size_t usable = malloc_usable_size(memory);
      size_t chunk = usable + 8;
      size_t k = chunk / 16 - 2;
      if (chunk % 16 == 0 && chunk >= 32 && k < POOL_CLASSES && vm->poolBytes + chunk <= vm->poolMaxBytes) {
        PoolBlock* block = (PoolBlock*)memory;
        block->next = vm->pool[k];
        vm->pool[k] = block;
        vm->poolBytes += chunk;
        return NULL;
      }
    }
  }
#endif
  void* result = vm->config.reallocateFn(memory, newSize, vm->config.userData);
  if (result == NULL && newSize != 0) {
    fprintf(stderr, "wren: out of system memory\n");
    abort();
  }
  return result;
}

void wren_pool_free_all(WrenVM* vm) {
  for (int k = 0; k < POOL_CLASSES; k++) {
    while (vm->pool[k] != NULL) {
      PoolBlock* block = vm->pool[k];
      vm->pool[k] = block->next;
      vm->config.reallocateFn(block, 0, vm->config.userData);
    }
  }
  vm->poolBytes = 0;
}

bool wren_check_alloc(WrenVM* vm, double bytes) {
  double limit = vm->config.maxHeapSize != 0 ? (double)vm->config.maxHeapSize : 1.5e10;
  if (bytes + (double)vm->bytesAllocated > limit) {
    wren_collect(vm);
    if (bytes + (double)vm->bytesAllocated > limit) {
      wren_runtime_error_str(vm, "Out of memory.");
      return false;
    }
  }
  return true;
}

#define DEFINE_BUFFER(Name, Type, Buf)                                       \
  void wren_buffer_write_##Name(WrenVM* vm, Buf* b, Type v) {                \
    if (b->count >= b->capacity) {                                           \
      int cap = b->capacity < 8 ? 8 : b->capacity * 2;                       \
      b->data = (Type*)wren_reallocate(vm, b->data, sizeof(Type) * (size_t)b->capacity, \
                                       sizeof(Type) * (size_t)cap);           \
      b->capacity = cap;                                                     \
    }                                                                        \
    b->data[b->count++] = v;                                                 \
  }                                                                          \
  void wren_buffer_free_##Name(WrenVM* vm, Buf* b) {                         \
    wren_reallocate(vm, b->data, sizeof(Type) * (size_t)b->capacity, 0);     \
    b->data = NULL;                                                          \
    b->count = b->capacity = 0;                                              \
  }

DEFINE_BUFFER(value, Value, ValueBuffer)
DEFINE_BUFFER(byte, uint8_t, ByteBuffer)
DEFINE_BUFFER(int, int, IntBuffer)

void wren_push_root(WrenVM* vm, Obj* obj) {
  if (vm->numTempRoots >= MAX_TEMP_ROOTS) {
    fprintf(stderr, "wren: too many temporary roots\n");
    abort();
  }
  vm->tempRoots[vm->numTempRoots++] = obj;
}

void wren_pop_root(WrenVM* vm) { vm->numTempRoots--; }

/* ---- symbol tables ---------------------------------------------------- */

void wren_symbol_table_init(SymbolTable* t) {
  t->data = NULL;
  t->count = t->capacity = 0;
}

void wren_symbol_table_free(WrenVM* vm, SymbolTable* t) {
  wren_reallocate(vm, t->data, sizeof(ObjString*) * (size_t)t->capacity, 0);
  wren_symbol_table_init(t);
}

int wren_symbol_table_add(WrenVM* vm, SymbolTable* t, const char* name, size_t length) {
  ObjString* s = AS_STRING(wren_new_string_length(vm, name, length));
  wren_push_root(vm, &s->obj);
  if (t->count >= t->capacity) {
    int cap = t->capacity < 8 ? 8 : t->capacity * 2;
    t->data = (ObjString**)wren_reallocate(vm, t->data, sizeof(ObjString*) * (size_t)t->capacity,
                                           sizeof(ObjString*) * (size_t)cap);
    t->capacity = cap;
  }
  t->data[t->count++] = s;
  wren_pop_root(vm);
  return t->count - 1;
}

int wren_symbol_table_find(const SymbolTable* t, const char* name, size_t length) {
  for (int i = 0; i < t->count; i++) {
    if (t->data[i]->length == length && memcmp(t->data[i]->value, name, length) == 0) return i;
  }
  return -1;
}

int wren_symbol_table_ensure(WrenVM* vm, SymbolTable* t, const char* name, size_t length) {
  int existing = wren_symbol_table_find(t, name, length);
  if (existing != -1) return existing;
  return wren_symbol_table_add(vm, t, name, length);
}

void wren_symbol_table_gray(WrenVM* vm, SymbolTable* t) {
  for (int i = 0; i < t->count; i++) wren_gray_obj(vm, &t->data[i]->obj);
}

/* ---- objects ---------------------------------------------------------- */

void wren_init_obj(WrenVM* vm, Obj* obj, ObjType type, ObjClass* classObj) {
  obj->type = type;
  obj->dark = false;
  obj->classObj = classObj;
  obj->next = vm->first;
  vm->first = obj;
}

ObjClass* wren_new_single_class(WrenVM* vm, int numFields, ObjString* name) {
  ObjClass* c = ALLOCATE(vm, ObjClass);
  wren_init_obj(vm, &c->obj, OBJ_CLASS, NULL);
  c->superclass = NULL;
  c->numFields = numFields;
  c->name = name;
  c->attributes = NULL_VAL;
  c->methods.data = NULL;
  c->methods.count = c->methods.capacity = 0;
  c->isForeign = false;
  c->allocate = NULL;
  c->finalize = NULL;
  c->allocateTag = NULL;
  return c;
}

void wren_bind_method(WrenVM* vm, ObjClass* cls, int symbol, Method method) {
  MethodBuffer* m = &cls->methods;
  if (symbol >= m->capacity) {
    int cap = m->capacity < 8 ? 8 : m->capacity;
    while (cap <= symbol) cap *= 2;
    m->data = (Method*)wren_reallocate(vm, m->data, sizeof(Method) * (size_t)m->capacity,
                                       sizeof(Method) * (size_t)cap);
    m->capacity = cap;
  }
  while (m->count <= symbol) {
    m->data[m->count].type = METHOD_NONE;
    m->data[m->count].tag = NULL;
    m->count++;
  }
  m->data[symbol] = method;
}

void wren_bind_superclass(WrenVM* vm, ObjClass* subclass, ObjClass* superclass) {
  subclass->superclass = superclass;
  if (subclass->numFields != -1) {
    subclass->numFields += superclass->numFields;
  } else {
    subclass->numFields = 0;
  }
  for (int i = 0; i < superclass->methods.count; i++) {
    wren_bind_method(vm, subclass, i, superclass->methods.data[i]);
  }
}

ObjClass* wren_new_class(WrenVM* vm, ObjClass* superclass, int numFields, ObjString* name) {
  Value metaName = wren_string_format(vm, "@ metaclass", OBJ_VAL(name));
  wren_push_root(vm, AS_OBJ(metaName));
  ObjClass* meta = wren_new_single_class(vm, 0, AS_STRING(metaName));
  meta->obj.classObj = vm->classClass;
  wren_pop_root(vm);
  wren_push_root(vm, &meta->obj);
  wren_bind_superclass(vm, meta, vm->classClass);
  ObjClass* c = wren_new_single_class(vm, numFields, name);
  wren_push_root(vm, &c->obj);
  c->obj.classObj = meta;
  wren_bind_superclass(vm, c, superclass);
  wren_pop_root(vm);
  wren_pop_root(vm);
  return c;
}

ObjClosure* wren_new_closure(WrenVM* vm, ObjFn* fn) {
  ObjClosure* c =
      ALLOCATE_FLEX(vm, ObjClosure, sizeof(ObjUpvalue*) * (size_t)fn->numUpvalues);
  wren_init_obj(vm, &c->obj, OBJ_CLOSURE, vm->fnClass);
  c->fn = fn;
  for (int i = 0; i < fn->numUpvalues; i++) c->upvalues[i] = NULL;
  return c;
}

ObjFiber* wren_new_fiber(WrenVM* vm, ObjClosure* closure) {
  int cap = 8;
  if (closure != NULL && closure->fn->maxSlots + 1 > cap) cap = closure->fn->maxSlots + 1;
  /* One allocation: the fiber, its first frames and its stack. */
  ObjFiber* f = ALLOCATE_FLEX(vm, ObjFiber,
                              sizeof(CallFrame) * FIBER_INLINE_FRAMES + sizeof(Value) * (size_t)cap);
  wren_init_obj(vm, &f->obj, OBJ_FIBER, vm->fiberClass);
  f->inlineStackCapacity = cap;
  f->stack = FIBER_INLINE_STACK_OF(f);
  f->stackTop = f->stack;
  f->stackCapacity = cap;
  f->frames = FIBER_INLINE_FRAMES_OF(f);
  f->frameCapacity = FIBER_INLINE_FRAMES;
  f->numFrames = 0;
  f->openUpvalues = NULL;
  f->caller = NULL;
  f->error = NULL_VAL;
  f->state = FIBER_OTHER;
  f->paused = false;
  if (closure != NULL) {
    *f->stackTop++ = OBJ_VAL(closure);
    wren_fiber_push_frame(vm, f, closure, f->stack);
  }
  return f;
}

void wren_fiber_ensure_stack(WrenVM* vm, ObjFiber* fiber, int needed) {
  if (needed <= fiber->stackCapacity) return;
  int cap = fiber->stackCapacity;
  while (cap < needed) cap *= 2;
  Value* old = fiber->stack;
  if (old == FIBER_INLINE_STACK_OF(fiber)) {
    /* Out of the fiber's own block: the inline slots stay with it, unused. */
    Value* fresh = (Value*)wren_reallocate(vm, NULL, 0, sizeof(Value) * (size_t)cap);
    memcpy(fresh, old, sizeof(Value) * (size_t)fiber->stackCapacity);
    fiber->stack = fresh;
  } else {
    fiber->stack = (Value*)wren_reallocate(vm, fiber->stack, sizeof(Value) * (size_t)fiber->stackCapacity,
                                           sizeof(Value) * (size_t)cap);
  }
  fiber->stackCapacity = cap;
  if (fiber->stack != old) {
    ptrdiff_t moved = fiber->stack - old;
    for (int i = 0; i < fiber->numFrames; i++) fiber->frames[i].stackStart += moved;
    for (ObjUpvalue* u = fiber->openUpvalues; u != NULL; u = u->next) u->value += moved;
    fiber->stackTop += moved;
  }
}

void wren_fiber_push_frame(WrenVM* vm, ObjFiber* fiber, ObjClosure* closure, Value* stackStart) {
  if (fiber->numFrames >= fiber->frameCapacity) {
    int cap = fiber->frameCapacity * 2;
    if (fiber->frames == FIBER_INLINE_FRAMES_OF(fiber)) {
      CallFrame* fresh = (CallFrame*)wren_reallocate(vm, NULL, 0, sizeof(CallFrame) * (size_t)cap);
      memcpy(fresh, fiber->frames, sizeof(CallFrame) * (size_t)fiber->frameCapacity);
      fiber->frames = fresh;
    } else {
      fiber->frames = (CallFrame*)wren_reallocate(vm, fiber->frames,
                                                  sizeof(CallFrame) * (size_t)fiber->frameCapacity,
                                                  sizeof(CallFrame) * (size_t)cap);
    }
    fiber->frameCapacity = cap;
  }
  CallFrame* frame = &fiber->frames[fiber->numFrames++];
  frame->stackStart = stackStart;
  frame->closure = closure;
  frame->ip = closure->fn->code.data;
}

ObjFn* wren_new_fn(WrenVM* vm, ObjModule* module, int maxSlots) {
  ObjFn* fn = ALLOCATE(vm, ObjFn);
  wren_init_obj(vm, &fn->obj, OBJ_FN, vm->fnClass);
  fn->code.data = NULL;
  fn->code.count = fn->code.capacity = 0;
  fn->constants.data = NULL;
  fn->constants.count = fn->constants.capacity = 0;
  fn->lines.data = NULL;
  fn->lines.count = fn->lines.capacity = 0;
  fn->module = module;
  fn->maxSlots = maxSlots;
  fn->numUpvalues = 0;
  fn->arity = 0;
  fn->isMethod = false;
  fn->fieldBase = 0;
  fn->name = NULL;
  return fn;
}

Value wren_new_instance(WrenVM* vm, ObjClass* cls) {
  ObjInstance* inst = ALLOCATE_FLEX(vm, ObjInstance, sizeof(Value) * (size_t)cls->numFields);
  wren_init_obj(vm, &inst->obj, OBJ_INSTANCE, cls);
  for (int i = 0; i < cls->numFields; i++) inst->fields[i] = NULL_VAL;
  return OBJ_VAL(inst);
}

ObjList* wren_new_list(WrenVM* vm, int count) {
  Value* data = NULL;
  if (count > 0) data = ALLOCATE_ARRAY(vm, Value, count);
  ObjList* list = ALLOCATE(vm, ObjList);
  wren_init_obj(vm, &list->obj, OBJ_LIST, vm->listClass);
  list->elements.data = data;
  list->elements.count = count;
  list->elements.capacity = count;
  for (int i = 0; i < count; i++) data[i] = NULL_VAL;
  return list;
}

void wren_list_insert(WrenVM* vm, ObjList* list, Value v, int index) {
  if (IS_OBJ(v)) wren_push_root(vm, AS_OBJ(v));
  wren_buffer_write_value(vm, &list->elements, NULL_VAL);
  if (IS_OBJ(v)) wren_pop_root(vm);
  Value* d = list->elements.data;
  memmove(d + index + 1, d + index, sizeof(Value) * (size_t)(list->elements.count - 1 - index));
  d[index] = v;
}

Value wren_list_remove_at(WrenVM* vm, ObjList* list, int index) {
  Value removed = list->elements.data[index];
  Value* d = list->elements.data;
  memmove(d + index, d + index + 1, sizeof(Value) * (size_t)(list->elements.count - index - 1));
  list->elements.count--;
  if (list->elements.capacity > 16 && list->elements.count < list->elements.capacity / 4) {
    int cap = list->elements.capacity / 2;
    list->elements.data = (Value*)wren_reallocate(vm, list->elements.data,
                                                  sizeof(Value) * (size_t)list->elements.capacity,
                                                  sizeof(Value) * (size_t)cap);
    list->elements.capacity = cap;
  }
  return removed;
}

/* ---- maps ------------------------------------------------------------- */

ObjMap* wren_new_map(WrenVM* vm) {
  ObjMap* map = ALLOCATE(vm, ObjMap);
  wren_init_obj(vm, &map->obj, OBJ_MAP, vm->mapClass);
  map->capacity = 0;
  map->count = 0;
  map->entries = NULL;
  return map;
}

static uint32_t hash_bits(uint64_t h) {
  h = ~h + (h << 18);
  h = h ^ (h >> 31);
  h = h * 21;
  h = h ^ (h >> 11);
  h = h + (h << 6);
  h = h ^ (h >> 22);
  return (uint32_t)(h & 0x3fffffff);
}

static uint32_t hash_num(double d) {
  if (d == 0) d = 0;  /* -0 and 0 are equal keys */
  uint64_t bits;
  memcpy(&bits, &d, sizeof bits);
  return hash_bits(bits);
}

static uint32_t hash_value(Value v) {
  if (IS_NUM(v)) return hash_num(AS_NUM(v));
  if (!IS_OBJ(v)) return hash_bits(v);
  Obj* o = AS_OBJ(v);
  switch (o->type) {
    case OBJ_STRING: return ((ObjString*)o)->hash;
    case OBJ_RANGE: {
      ObjRange* r = (ObjRange*)o;
      return hash_num(r->from) ^ hash_num(r->to) ^ (r->isInclusive ? 1u : 0u);
    }
    default: return hash_bits((uint64_t)(uintptr_t)o);
  }
}

/* find_entry for a String key: the same object, or a String of the same
   hash and length with the same bytes (no call per probe). */
static MapEntry* find_string_entry(MapEntry* entries, uint32_t capacity, ObjString* key) {
  uint32_t index = key->hash & (capacity - 1);
  MapEntry* tombstone = NULL;
  for (uint32_t probes = 0; probes < capacity; probes++) {
    MapEntry* e = &entries[index];
    if (IS_UNDEFINED(e->key)) {
      if (IS_FALSE(e->value)) return tombstone != NULL ? tombstone : e;
      if (tombstone == NULL) tombstone = e;
    } else if (IS_OBJ(e->key)) {
      Obj* o = AS_OBJ(e->key);
      if (o == &key->obj) return e;
      if (o->type == OBJ_STRING) {
        ObjString* other = (ObjString*)o;
        if (other->hash == key->hash && other->length == key->length &&
            memcmp(other->value, key->value, key->length) == 0) {
          return e;
        }
      }
    }
    index = (index + 1) & (capacity - 1);
  }
  return tombstone;
}

static MapEntry* find_entry(MapEntry* entries, uint32_t capacity, Value key) {
  if (capacity == 0) return NULL;
  if (IS_OBJ(key) && AS_OBJ(key)->type == OBJ_STRING) {
    return find_string_entry(entries, capacity, (ObjString*)AS_OBJ(key));
  }
  uint32_t index = hash_value(key) & (capacity - 1);
  MapEntry* tombstone = NULL;
  /* At most one pass: a table whose free slots have all become tombstones
     (many inserts and removes) has no empty slot to stop at. */
  for (uint32_t probes = 0; probes < capacity; probes++) {
    MapEntry* e = &entries[index];
    if (IS_UNDEFINED(e->key)) {
      if (IS_FALSE(e->value)) return tombstone != NULL ? tombstone : e;
      if (tombstone == NULL) tombstone = e;
    } else if (wren_values_equal(e->key, key)) {
      return e;
    }
    index = (index + 1) & (capacity - 1);
  }
  return tombstone;
}

static void map_resize(WrenVM* vm, ObjMap* map, uint32_t capacity) {
  MapEntry* entries = ALLOCATE_ARRAY(vm, MapEntry, capacity);
  for (uint32_t i = 0; i < capacity; i++) {
    entries[i].key = UNDEFINED_VAL;
    entries[i].value = FALSE_VAL;
  }
  for (uint32_t i = 0; i < map->capacity; i++) {
    MapEntry* e = &map->entries[i];
    if (IS_UNDEFINED(e->key)) continue;
    MapEntry* dest = find_entry(entries, capacity, e->key);
    *dest = *e;
  }
  DEALLOCATE(vm, map->entries, sizeof(MapEntry) * map->capacity);
  map->entries = entries;
  map->capacity = capacity;
}

Value wren_map_get(ObjMap* map, Value key) {
  if (map->count == 0) return UNDEFINED_VAL;
  MapEntry* e = find_entry(map->entries, map->capacity, key);
  if (e == NULL || IS_UNDEFINED(e->key)) return UNDEFINED_VAL;
  return e->value;
}

void wren_map_set(WrenVM* vm, ObjMap* map, Value key, Value value) {
  /* Tombstones count towards the load, so use a generous threshold. */
  if ((map->count + 1) * 4 > map->capacity * 3) {
    uint32_t cap = map->capacity < 16 ? 16 : map->capacity * 2;
    if (IS_OBJ(key)) wren_push_root(vm, AS_OBJ(key));
    if (IS_OBJ(value)) wren_push_root(vm, AS_OBJ(value));
    map_resize(vm, map, cap);
    if (IS_OBJ(value)) wren_pop_root(vm);
    if (IS_OBJ(key)) wren_pop_root(vm);
  }
  MapEntry* e = find_entry(map->entries, map->capacity, key);
  if (IS_UNDEFINED(e->key)) {
    map->count++;
    e->key = key;
  }
  e->value = value;
}

void wren_map_clear(WrenVM* vm, ObjMap* map) {
  DEALLOCATE(vm, map->entries, sizeof(MapEntry) * map->capacity);
  map->entries = NULL;
  map->capacity = 0;
  map->count = 0;
}

Value wren_map_remove(WrenVM* vm, ObjMap* map, Value key) {
  if (map->count == 0) return NULL_VAL;
  MapEntry* e = find_entry(map->entries, map->capacity, key);
  if (e == NULL || IS_UNDEFINED(e->key)) return NULL_VAL;
  Value value = e->value;
  e->key = UNDEFINED_VAL;
  e->value = TRUE_VAL;
  map->count--;
  if (map->count == 0) {
    wren_map_clear(vm, map);
  } else if (map->capacity > 16 && map->count * 8 < map->capacity) {
    if (IS_OBJ(value)) wren_push_root(vm, AS_OBJ(value));
    map_resize(vm, map, map->capacity / 2);
    if (IS_OBJ(value)) wren_pop_root(vm);
  }
  return value;
}

ObjModule* wren_new_module(WrenVM* vm, ObjString* name) {
  ObjModule* m = ALLOCATE(vm, ObjModule);
  wren_init_obj(vm, &m->obj, OBJ_MODULE, NULL);
  m->variables.data = NULL;
  m->variables.count = m->variables.capacity = 0;
  wren_symbol_table_init(&m->variableNames);
  m->name = name;
  return m;
}

Value wren_new_range(WrenVM* vm, double from, double to, bool isInclusive) {
  ObjRange* r = ALLOCATE(vm, ObjRange);
  wren_init_obj(vm, &r->obj, OBJ_RANGE, vm->rangeClass);
  r->from = from;
  r->to = to;
  r->isInclusive = isInclusive;
  return OBJ_VAL(r);
}

ObjUpvalue* wren_new_upvalue(WrenVM* vm, Value* value) {
  ObjUpvalue* u = ALLOCATE(vm, ObjUpvalue);
  wren_init_obj(vm, &u->obj, OBJ_UPVALUE, NULL);
  u->value = value;
  u->closed = NULL_VAL;
  u->next = NULL;
  return u;
}

/* ---- strings ---------------------------------------------------------- */

void wren_hash_string(ObjString* s) {
  uint32_t h = 2166136261u;
  for (uint32_t i = 0; i < s->length; i++) {
    h ^= (uint8_t)s->value[i];
    h *= 16777619u;
  }
  s->hash = h;
}

ObjString* wren_alloc_obj_string(WrenVM* vm, size_t length) {
  ObjString* s = ALLOCATE_FLEX(vm, ObjString, length + 1);
  wren_init_obj(vm, &s->obj, OBJ_STRING, vm->stringClass);
  s->length = (uint32_t)length;
  s->hash = 0;
  s->value[length] = '\0';
  return s;
}

Value wren_new_string_length(WrenVM* vm, const char* text, size_t length) {
  ObjString* s = wren_alloc_obj_string(vm, length);
  if (length > 0) memcpy(s->value, text, length);
  wren_hash_string(s);
  return OBJ_VAL(s);
}

Value wren_new_string(WrenVM* vm, const char* text) {
  return wren_new_string_length(vm, text, strlen(text));
}

/* Format: '$' is a C string, '@' is a Value holding a string. */
Value wren_string_format(WrenVM* vm, const char* format, ...) {
  va_list ap;
  size_t total = 0;
  va_start(ap, format);
  for (const char* c = format; *c; c++) {
    if (*c == '$') total += strlen(va_arg(ap, const char*));
    else if (*c == '@') total += AS_STRING(va_arg(ap, Value))->length;
    else total++;
  }
  va_end(ap);
  ObjString* s = wren_alloc_obj_string(vm, total);
  char* out = s->value;
  va_start(ap, format);
  for (const char* c = format; *c; c++) {
    if (*c == '$') {
      const char* str = va_arg(ap, const char*);
      size_t n = strlen(str);
      memcpy(out, str, n);
      out += n;
    } else if (*c == '@') {
      ObjString* str = AS_STRING(va_arg(ap, Value));
      memcpy(out, str->value, str->length);
      out += str->length;
    } else {
      *out++ = *c;
    }
  }
  va_end(ap);
  wren_hash_string(s);
  return OBJ_VAL(s);
}

Value wren_num_to_string(WrenVM* vm, double value) {
  if (isnan(value)) return wren_new_string(vm, "nan");
  if (isinf(value)) return wren_new_string(vm, value > 0 ? "infinity" : "-infinity");
  char buf[32];
  /* Integers below 1e14 print all their digits with %.14g: write them directly. */
  if (value > -1e14 && value < 1e14 && value == (double)(int64_t)value && !(value == 0 && signbit(value))) {
    int64_t i = (int64_t)value;
    uint64_t u = i < 0 ? (uint64_t)(-i) : (uint64_t)i;
    char* end = buf + sizeof buf;
    char* p = end;
    do {
      *--p = (char)('0' + u % 10);
      u /= 10;
    } while (u != 0);
    if (i < 0) *--p = '-';
    return wren_new_string_length(vm, p, (size_t)(end - p));
  }
  int n = snprintf(buf, sizeof buf, "%.14g", value);
  return wren_new_string_length(vm, buf, (size_t)n);
}

int wren_utf8_encode_num_bytes(int value) {
  if (value < 0) return 0;
  if (value <= 0x7f) return 1;
  if (value <= 0x7ff) return 2;
  if (value <= 0xffff) return 3;
  if (value <= 0x10ffff) return 4;
  return 0;
}

int wren_utf8_encode(int value, uint8_t* bytes) {
  if (value <= 0x7f) {
    bytes[0] = (uint8_t)value;
    return 1;
  }
  if (value <= 0x7ff) {
    bytes[0] = (uint8_t)(0xc0 | ((value >> 6) & 0x1f));
    bytes[1] = (uint8_t)(0x80 | (value & 0x3f));
    return 2;
  }
  if (value <= 0xffff) {
    bytes[0] = (uint8_t)(0xe0 | ((value >> 12) & 0x0f));
    bytes[1] = (uint8_t)(0x80 | ((value >> 6) & 0x3f));
    bytes[2] = (uint8_t)(0x80 | (value & 0x3f));
    return 3;
  }
  bytes[0] = (uint8_t)(0xf0 | ((value >> 18) & 0x07));
  bytes[1] = (uint8_t)(0x80 | ((value >> 12) & 0x3f));
  bytes[2] = (uint8_t)(0x80 | ((value >> 6) & 0x3f));
  bytes[3] = (uint8_t)(0x80 | (value & 0x3f));
  return 4;
}

int wren_utf8_decode_num_bytes(uint8_t byte) {
  if ((byte & 0xc0) == 0x80) return 0;
  if ((byte & 0xf8) == 0xf0) return 4;
  if ((byte & 0xf0) == 0xe0) return 3;
  if ((byte & 0xe0) == 0xc0) return 2;
  return 1;
}

/* Returns the code point at the start of bytes, or -1 if invalid. */
int wren_utf8_decode(const uint8_t* bytes, uint32_t length) {
  if (length == 0) return -1;
  if (bytes[0] <= 0x7f) return bytes[0];
  int value;
  uint32_t remaining;
  if ((bytes[0] & 0xe0) == 0xc0) {
    value = bytes[0] & 0x1f;
    remaining = 1;
  } else if ((bytes[0] & 0xf0) == 0xe0) {
    value = bytes[0] & 0x0f;
    remaining = 2;
  } else if ((bytes[0] & 0xf8) == 0xf0) {
    value = bytes[0] & 0x07;
    remaining = 3;
  } else {
    return -1;
  }
  if (remaining > length - 1) return -1;
  for (uint32_t i = 1; i <= remaining; i++) {
    if ((bytes[i] & 0xc0) != 0x80) return -1;
    value = (value << 6) | (bytes[i] & 0x3f);
  }
  return value;
}

Value wren_string_from_code_point(WrenVM* vm, int value) {
  int n = wren_utf8_encode_num_bytes(value);
  ObjString* s = wren_alloc_obj_string(vm, (size_t)n);
  wren_utf8_encode(value, (uint8_t*)s->value);
  wren_hash_string(s);
  return OBJ_VAL(s);
}

Value wren_string_from_byte(WrenVM* vm, uint8_t value) {
  ObjString* s = wren_alloc_obj_string(vm, 1);
  s->value[0] = (char)value;
  wren_hash_string(s);
  return OBJ_VAL(s);
}

Value wren_string_code_point_at(WrenVM* vm, ObjString* s, uint32_t index) {
  const uint8_t* b = (const uint8_t*)s->value + index;
  int cp = wren_utf8_decode(b, s->length - index);
  if (cp == -1) return wren_new_string_length(vm, (const char*)b, 1);
  return wren_new_string_length(vm, (const char*)b, (size_t)wren_utf8_encode_num_bytes(cp));
}

/* The range counts bytes, but the result is made of whole code points, as in the
   reference: a byte inside a multi-byte character (a continuation byte) adds
   nothing, a byte that starts one adds the whole character (even past the
   range's end), and a byte that starts no valid character adds nothing. */
Value wren_string_from_range(WrenVM* vm, ObjString* s, int start, uint32_t count, int step) {
  const uint8_t* from = (const uint8_t*)s->value;
  size_t length = 0;
  for (uint32_t i = 0; i < count; i++) {
    uint32_t index = (uint32_t)(start + (int)i * step);
    if (from[index] <= 0x7f) {
      length++;
      continue;
    }
    int cp = wren_utf8_decode(from + index, s->length - index);
    if (cp != -1) length += (size_t)wren_utf8_encode_num_bytes(cp);
  }
  ObjString* r = wren_alloc_obj_string(vm, length);
  uint8_t* to = (uint8_t*)r->value;
  for (uint32_t i = 0; i < count; i++) {
    uint32_t index = (uint32_t)(start + (int)i * step);
    if (from[index] <= 0x7f) {
      *to++ = from[index];
      continue;
    }
    int cp = wren_utf8_decode(from + index, s->length - index);
    if (cp != -1) to += wren_utf8_encode(cp, to);
  }
  wren_hash_string(r);
  return OBJ_VAL(r);
}

uint32_t wren_string_find(ObjString* haystack, ObjString* needle, uint32_t start) {
  if (needle->length == 0) return start;
  if (start >= haystack->length) return UINT32_MAX;
  if (needle->length > haystack->length - start) return UINT32_MAX;
  uint32_t last = haystack->length - needle->length;
  for (uint32_t i = start; i <= last; i++) {
    if (haystack->value[i] == needle->value[0] &&
        memcmp(haystack->value + i, needle->value, needle->length) == 0) {
      return i;
    }
  }
  return UINT32_MAX;
}

bool wren_strings_equal(ObjString* a, ObjString* b) {
  return a == b || (a->length == b->length && a->hash == b->hash &&
                    memcmp(a->value, b->value, a->length) == 0);
}

bool wren_values_equal(Value a, Value b) {
  if (wren_values_same(a, b)) return true;
  if (!IS_OBJ(a) || !IS_OBJ(b)) return false;
  Obj* oa = AS_OBJ(a);
  Obj* ob = AS_OBJ(b);
  if (oa->type != ob->type) return false;
  if (oa->type == OBJ_STRING) return wren_strings_equal((ObjString*)oa, (ObjString*)ob);
  if (oa->type == OBJ_RANGE) {
    ObjRange* ra = (ObjRange*)oa;
    ObjRange* rb = (ObjRange*)ob;
    return ra->from == rb->from && ra->to == rb->to && ra->isInclusive == rb->isInclusive;
  }
  return false;
}

ObjClass* wren_get_class(WrenVM* vm, Value v) { return wren_get_class_inline(vm, v); }

/* ---- garbage collection ----------------------------------------------- */

static void gray_grow(WrenVM* vm) {
  int cap = vm->grayCapacity < 64 ? 64 : vm->grayCapacity * 2;
  /* The gray stack is not counted against the heap: it must not trigger a GC. */
  Obj** gray = (Obj**)vm->config.reallocateFn(vm->gray, sizeof(Obj*) * (size_t)cap,
                                              vm->config.userData);
  if (gray == NULL) {
    fprintf(stderr, "wren: out of system memory\n");
    abort();
  }
  vm->gray = gray;
  vm->grayCapacity = cap;
}

/* Inline in the collector: most references reach an object already marked. */
static inline void gray_obj(WrenVM* vm, Obj* obj) {
  if (obj == NULL || obj->dark) return;
  obj->dark = true;
  if (UNLIKELY(vm->grayCount >= vm->grayCapacity)) gray_grow(vm);
  vm->gray[vm->grayCount++] = obj;
}

static inline void gray_value(WrenVM* vm, Value v) {
  if (IS_OBJ(v)) gray_obj(vm, AS_OBJ(v));
}

void wren_gray_obj(WrenVM* vm, Obj* obj) { gray_obj(vm, obj); }

void wren_gray_value(WrenVM* vm, Value v) { gray_value(vm, v); }

static void gray_buffer(WrenVM* vm, ValueBuffer* b) {
  for (int i = 0; i < b->count; i++) gray_value(vm, b->data[i]);
}

static void blacken(WrenVM* vm, Obj* obj) {
  switch (obj->type) {
    case OBJ_CLASS: {
      ObjClass* c = (ObjClass*)obj;
      gray_obj(vm, &c->obj.classObj->obj);
      gray_obj(vm, (Obj*)c->superclass);
      for (int i = 0; i < c->methods.count; i++) {
        if (c->methods.data[i].type >= METHOD_BLOCK) {
          gray_obj(vm, &c->methods.data[i].as.closure->obj);
        }
      }
      gray_obj(vm, (Obj*)c->name);
      gray_value(vm, c->attributes);
      break;
    }
    case OBJ_CLOSURE: {
      ObjClosure* c = (ObjClosure*)obj;
      gray_obj(vm, &c->fn->obj);
      for (int i = 0; i < c->fn->numUpvalues; i++) gray_obj(vm, (Obj*)c->upvalues[i]);
      break;
    }
    case OBJ_FIBER: {
      ObjFiber* f = (ObjFiber*)obj;
      for (Value* s = f->stack; s < f->stackTop; s++) gray_value(vm, *s);
      for (int i = 0; i < f->numFrames; i++) gray_obj(vm, &f->frames[i].closure->obj);
      for (ObjUpvalue* u = f->openUpvalues; u != NULL; u = u->next) gray_obj(vm, &u->obj);
      gray_obj(vm, (Obj*)f->caller);
      gray_value(vm, f->error);
      break;
    }
    case OBJ_FN: {
      ObjFn* fn = (ObjFn*)obj;
      gray_buffer(vm, &fn->constants);
      gray_obj(vm, (Obj*)fn->module);
      break;
    }
    case OBJ_FOREIGN:
    case OBJ_INSTANCE: {
      gray_obj(vm, &obj->classObj->obj);
      if (obj->type == OBJ_INSTANCE) {
        ObjInstance* inst = (ObjInstance*)obj;
        for (int i = 0; i < obj->classObj->numFields; i++) gray_value(vm, inst->fields[i]);
      }
      break;
    }
    case OBJ_LIST: gray_buffer(vm, &((ObjList*)obj)->elements); break;
    case OBJ_MAP: {
      ObjMap* m = (ObjMap*)obj;
      for (uint32_t i = 0; i < m->capacity; i++) {
        if (IS_UNDEFINED(m->entries[i].key)) continue;
        gray_value(vm, m->entries[i].key);
        gray_value(vm, m->entries[i].value);
      }
      break;
    }
    case OBJ_MODULE: {
      ObjModule* m = (ObjModule*)obj;
      gray_buffer(vm, &m->variables);
      wren_symbol_table_gray(vm, &m->variableNames);
      gray_obj(vm, (Obj*)m->name);
      break;
    }
    case OBJ_UPVALUE: gray_value(vm, ((ObjUpvalue*)obj)->closed); break;
    case OBJ_RANGE:
    case OBJ_STRING: break;
  }
}

static size_t obj_size(Obj* obj) {
  switch (obj->type) {
    case OBJ_CLASS: return sizeof(ObjClass);
    case OBJ_CLOSURE:
      return sizeof(ObjClosure) + sizeof(ObjUpvalue*) * (size_t)((ObjClosure*)obj)->fn->numUpvalues;
    case OBJ_FIBER:
      return sizeof(ObjFiber) + sizeof(CallFrame) * FIBER_INLINE_FRAMES +
             sizeof(Value) * (size_t)((ObjFiber*)obj)->inlineStackCapacity;
    case OBJ_FN: return sizeof(ObjFn);
    case OBJ_FOREIGN: return sizeof(ObjForeign) + ((ObjForeign*)obj)->size;
    case OBJ_INSTANCE:
      return sizeof(ObjInstance) + sizeof(Value) * (size_t)obj->classObj->numFields;
    case OBJ_LIST: return sizeof(ObjList);
    case OBJ_MAP: return sizeof(ObjMap);
    case OBJ_MODULE: return sizeof(ObjModule);
    case OBJ_RANGE: return sizeof(ObjRange);
    case OBJ_STRING: return sizeof(ObjString) + ((ObjString*)obj)->length + 1;
    case OBJ_UPVALUE: return sizeof(ObjUpvalue);
  }
  return 0;
}

void wren_free_obj(WrenVM* vm, Obj* obj) {
  switch (obj->type) {
    case OBJ_CLASS: {
      ObjClass* c = (ObjClass*)obj;
      DEALLOCATE(vm, c->methods.data, sizeof(Method) * (size_t)c->methods.capacity);
      break;
    }
    case OBJ_FIBER: {
      ObjFiber* f = (ObjFiber*)obj;
      if (f->stack != FIBER_INLINE_STACK_OF(f)) {
        DEALLOCATE(vm, f->stack, sizeof(Value) * (size_t)f->stackCapacity);
      }
      if (f->frames != FIBER_INLINE_FRAMES_OF(f)) {
        DEALLOCATE(vm, f->frames, sizeof(CallFrame) * (size_t)f->frameCapacity);
      }
      break;
    }
    case OBJ_FN: {
      ObjFn* fn = (ObjFn*)obj;
      wren_buffer_free_byte(vm, &fn->code);
      wren_buffer_free_value(vm, &fn->constants);
      wren_buffer_free_int(vm, &fn->lines);
      if (fn->name != NULL) DEALLOCATE(vm, fn->name, strlen(fn->name) + 1);
      break;
    }
    case OBJ_FOREIGN: {
      ObjForeign* f = (ObjForeign*)obj;
      if (f->finalize != NULL) f->finalize(f->data);
      break;
    }
    case OBJ_LIST: wren_buffer_free_value(vm, &((ObjList*)obj)->elements); break;
    case OBJ_MAP: {
      ObjMap* m = (ObjMap*)obj;
      DEALLOCATE(vm, m->entries, sizeof(MapEntry) * m->capacity);
      break;
    }
    case OBJ_MODULE: {
      ObjModule* m = (ObjModule*)obj;
      wren_buffer_free_value(vm, &m->variables);
      wren_symbol_table_free(vm, &m->variableNames);
      break;
    }
    default: break;
  }
  size_t size = obj_size(obj);
  DEALLOCATE(vm, obj, size);
}

void wren_collect(WrenVM* vm) {
  if (vm->coreModule == NULL && vm->modules == NULL) return;
  vm->gcRuns++;
  /* Nothing allocated while collecting is accounted, to avoid re-entry. */
  size_t saveNext = vm->nextGC;
  vm->nextGC = (size_t)-1;
  vm->grayCount = 0;

  gray_obj(vm, (Obj*)vm->modules);
  gray_obj(vm, (Obj*)vm->coreModule);
  gray_obj(vm, (Obj*)vm->lastModule);
  for (int i = 0; i < vm->numTempRoots; i++) gray_obj(vm, vm->tempRoots[i]);
  gray_obj(vm, (Obj*)vm->fiber);
  for (WrenHandle* h = vm->handles; h != NULL; h = h->next) gray_value(vm, h->value);
  for (int i = 0; i < vm->apiSlotCount; i++) gray_value(vm, vm->apiStack[i]);
  if (vm->compiler != NULL) wren_mark_compiler(vm, vm->compiler);
  wren_symbol_table_gray(vm, &vm->methodNames);

  while (vm->grayCount > 0) {
    Obj* obj = vm->gray[--vm->grayCount];
    blacken(vm, obj);
  }

  Obj** link = &vm->first;
  while (*link != NULL) {
    Obj* obj = *link;
    if (!obj->dark) {
      *link = obj->next;
      wren_free_obj(vm, obj);
    } else {
      obj->dark = false;
      link = &obj->next;
    }
  }
  (void)saveNext;
  size_t next = vm->bytesAllocated + vm->bytesAllocated * (size_t)vm->config.heapGrowthPercent / 100;
  if (next < vm->config.minHeapSize) next = vm->config.minHeapSize;
  vm->nextGC = next;
}
