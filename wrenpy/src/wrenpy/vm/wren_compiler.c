/* Lexer and single-pass compiler from Wren source to bytecode.
 *
 * The parser is a Pratt parser. After an error it suppresses further
 * reports until the next statement boundary, so one mistake does not
 * cascade onto lines that have none.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>

#include "wren_internal.h"

#define MAX_NESTING 200
#define MAX_ERRORS 1000

typedef enum {
  TOKEN_LEFT_PAREN, TOKEN_RIGHT_PAREN, TOKEN_LEFT_BRACKET, TOKEN_RIGHT_BRACKET,
  TOKEN_LEFT_BRACE, TOKEN_RIGHT_BRACE, TOKEN_COLON, TOKEN_DOT, TOKEN_DOTDOT,
  TOKEN_DOTDOTDOT, TOKEN_COMMA, TOKEN_STAR, TOKEN_SLASH, TOKEN_PERCENT, TOKEN_HASH,
  TOKEN_PLUS, TOKEN_MINUS, TOKEN_LTLT, TOKEN_GTGT, TOKEN_PIPE, TOKEN_PIPEPIPE,
  TOKEN_CARET, TOKEN_AMP, TOKEN_AMPAMP, TOKEN_BANG, TOKEN_TILDE, TOKEN_QUESTION,
  TOKEN_EQ, TOKEN_LT, TOKEN_GT, TOKEN_LTEQ, TOKEN_GTEQ, TOKEN_EQEQ, TOKEN_BANGEQ,
  TOKEN_AS, TOKEN_BREAK, TOKEN_CLASS, TOKEN_CONSTRUCT, TOKEN_CONTINUE, TOKEN_ELSE,
  TOKEN_FALSE, TOKEN_FOR, TOKEN_FOREIGN, TOKEN_IF, TOKEN_IMPORT, TOKEN_IN, TOKEN_IS,
  TOKEN_NULL, TOKEN_RETURN, TOKEN_STATIC, TOKEN_SUPER, TOKEN_THIS, TOKEN_TRUE,
  TOKEN_VAR, TOKEN_WHILE, TOKEN_FIELD, TOKEN_STATIC_FIELD, TOKEN_NAME, TOKEN_NUMBER,
  TOKEN_STRING, TOKEN_INTERPOLATION, TOKEN_LINE, TOKEN_ERROR, TOKEN_EOF
} TokenType;

typedef struct {
  TokenType type;
  const char* start;
  int length;
  int line;
  Value value;
} Token;

typedef struct {
  const char* name;
  TokenType type;
} Keyword;

static const Keyword keywords[] = {
    {"as", TOKEN_AS},           {"break", TOKEN_BREAK},   {"class", TOKEN_CLASS},
    {"construct", TOKEN_CONSTRUCT}, {"continue", TOKEN_CONTINUE}, {"else", TOKEN_ELSE},
    {"false", TOKEN_FALSE},     {"for", TOKEN_FOR},       {"foreign", TOKEN_FOREIGN},
    {"if", TOKEN_IF},           {"import", TOKEN_IMPORT}, {"in", TOKEN_IN},
    {"is", TOKEN_IS},           {"null", TOKEN_NULL},     {"return", TOKEN_RETURN},
    {"static", TOKEN_STATIC},   {"super", TOKEN_SUPER},   {"this", TOKEN_THIS},
    {"true", TOKEN_TRUE},       {"var", TOKEN_VAR},       {"while", TOKEN_WHILE},
    {NULL, TOKEN_EOF}};

typedef struct {
  int symbol;
  int line;
} ForwardRef;

typedef struct {
  WrenVM* vm;
  ObjModule* module;
  const char* source;
  const char* tokenStart;
  const char* currentChar;
  int currentLine;
  Token next;
  Token current;
  Token previous;
  int parens[MAX_INTERPOLATION_NESTING];
  int numParens;
  bool printErrors;
  bool hasError;
  int errorCount;
  int depth;
  ByteBuffer strBuf;
  ForwardRef* forwards;
  int numForwards;
  int forwardCapacity;
} Parser;

typedef struct {
  const char* name;
  int length;
  int depth;
  bool isUpvalue;
} Local;

typedef struct {
  bool isLocal;
  int index;
} CompilerUpvalue;

typedef struct Loop {
  int start;
  int exitJump;
  int scopeDepth;
  IntBuffer breaks;
  struct Loop* enclosing;
} Loop;

typedef enum {
  SIG_METHOD,
  SIG_GETTER,
  SIG_SETTER,
  SIG_SUBSCRIPT,
  SIG_SUBSCRIPT_SETTER,
  SIG_INITIALIZER
} SignatureType;

typedef struct {
  const char* name;
  int length;
  SignatureType type;
  int arity;
} Signature;

typedef struct {
  ObjString* name;
  SymbolTable fields;
  IntBuffer methods;
  IntBuffer staticMethods;
  bool isForeign;
  bool inStatic;
  Signature* signature;
  ObjList* classAttrs;   /* [group, key, value]* */
  ObjList* methodAttrs;  /* [signature, group, key, value]* */
} ClassInfo;

struct Compiler {
  Parser* parser;
  struct Compiler* parent;
  Local locals[MAX_LOCALS + 1];
  int numLocals;
  CompilerUpvalue upvalues[MAX_UPVALUES];
  int scopeDepth;
  int numSlots;
  Loop* loop;
  ClassInfo* enclosingClass;
  ObjFn* fn;
  ObjMap* constants;
  bool isInitializer;
  ObjList* pendingAttrs; /* [group, key, value, runtime]* */
};

typedef enum {
  PREC_NONE,
  PREC_LOWEST,
  PREC_ASSIGNMENT,
  PREC_CONDITIONAL,
  PREC_LOGICAL_OR,
  PREC_LOGICAL_AND,
  PREC_EQUALITY,
  PREC_IS,
  PREC_COMPARISON,
  PREC_BITWISE_OR,
  PREC_BITWISE_XOR,
  PREC_BITWISE_AND,
  PREC_BITWISE_SHIFT,
  PREC_RANGE,
  PREC_TERM,
  PREC_FACTOR,
  PREC_UNARY,
  PREC_CALL,
  PREC_PRIMARY
} Precedence;

typedef void (*GrammarFn)(Compiler*, bool canAssign);

typedef struct {
  GrammarFn prefix;
  GrammarFn infix;
  Precedence precedence;
  const char* name;
} GrammarRule;

static const int stackEffects[] = {
    [OP_CONSTANT] = 1, [OP_NULL] = 1, [OP_FALSE] = 1, [OP_TRUE] = 1,
    [OP_LOAD_LOCAL_0] = 1, [OP_LOAD_LOCAL_1] = 1, [OP_LOAD_LOCAL_2] = 1, [OP_LOAD_LOCAL_3] = 1,
    [OP_LOAD_LOCAL] = 1, [OP_STORE_LOCAL] = 0, [OP_LOAD_UPVALUE] = 1, [OP_STORE_UPVALUE] = 0,
    [OP_LOAD_MODULE_VAR] = 1, [OP_STORE_MODULE_VAR] = 0, [OP_LOAD_FIELD_THIS] = 1,
    [OP_STORE_FIELD_THIS] = 0, [OP_LOAD_FIELD] = 0, [OP_STORE_FIELD] = -1, [OP_POP] = -1,
    [OP_JUMP] = 0, [OP_LOOP] = 0, [OP_JUMP_IF] = -1, [OP_AND] = -1, [OP_OR] = -1,
    [OP_CLOSE_UPVALUE] = -1, [OP_RETURN] = 0, [OP_CLOSURE] = 1, [OP_CONSTRUCT] = 0,
    [OP_FOREIGN_CONSTRUCT] = 0, [OP_CLASS] = -1, [OP_FOREIGN_CLASS] = -1, [OP_END_CLASS] = -2,
    [OP_METHOD_INSTANCE] = -2, [OP_METHOD_STATIC] = -2, [OP_END_MODULE] = 0,
    [OP_IMPORT_MODULE] = 1, [OP_IMPORT_VARIABLE] = 1, [OP_END] = 0,
    [OP_ADD] = 0, [OP_SUB] = 0, [OP_MUL] = 0, [OP_DIV] = 0, [OP_LT] = 0, [OP_GT] = 0,
    [OP_LTE] = 0, [OP_GTE] = 0, [OP_EQ] = 0, [OP_NEQ] = 0, [OP_SUBSCRIPT] = 0,
    [OP_ITERATE] = 0, [OP_ITERATOR_VALUE] = 0, [OP_MOD] = 0, [OP_ADD_ELEMENT] = 0};

/* ---- errors ----------------------------------------------------------- */

static void print_error(Parser* p, int line, const char* label, const char* format, va_list args) {
  p->hasError = true;
  if (!p->printErrors) return;
  /* Every error is reported, as the reference does, up to a bound no real
     script reaches: a source of a million invalid bytes would otherwise make a
     million calls into the embedder's error callback on each compile. */
  if (p->errorCount++ >= MAX_ERRORS) return;
  if (p->vm->config.errorFn == NULL) return;
  char message[256 + MAX_METHOD_SIGNATURE];
  int n = snprintf(message, sizeof message, "%s: ", label);
  vsnprintf(message + n, sizeof message - (size_t)n, format, args);
  const char* module = p->module->name != NULL ? p->module->name->value : "core";
  p->vm->config.errorFn(p->vm, WREN_ERROR_COMPILE, module, line, message);
}

static void lex_error(Parser* p, const char* format, ...) {
  va_list args;
  va_start(args, format);
  print_error(p, p->currentLine, "Error", format, args);
  va_end(args);
}

static void error(Compiler* c, const char* format, ...) {
  Parser* p = c->parser;
  Token* t = &p->previous;
  if (t->type == TOKEN_ERROR) return;
  char label[10 + MAX_VARIABLE_NAME + 4 + 6];
  if (t->type == TOKEN_LINE) {
    snprintf(label, sizeof label, "Error at newline");
  } else if (t->type == TOKEN_EOF) {
    snprintf(label, sizeof label, "Error at end of file");
  } else {
    int length = t->length <= MAX_VARIABLE_NAME ? t->length : MAX_VARIABLE_NAME;
    const char* ellipsis = t->length > MAX_VARIABLE_NAME ? "..." : "";
    snprintf(label, sizeof label, "Error at '%.*s%s'", length, t->start, ellipsis);
  }
  va_list args;
  va_start(args, format);
  print_error(p, t->line, label, format, args);
  va_end(args);
}

/* ---- lexer ------------------------------------------------------------ */

static char peek_char(Parser* p) { return *p->currentChar; }
static char peek_next_char(Parser* p) {
  if (*p->currentChar == '\0') return '\0';
  return p->currentChar[1];
}
static char next_char(Parser* p) {
  char c = *p->currentChar;
  p->currentChar++;
  if (c == '\n') p->currentLine++;
  return c;
}
static bool match_char(Parser* p, char c) {
  if (peek_char(p) != c) return false;
  next_char(p);
  return true;
}

static void make_token(Parser* p, TokenType type) {
  p->next.type = type;
  p->next.start = p->tokenStart;
  p->next.length = (int)(p->currentChar - p->tokenStart);
  p->next.line = p->currentLine;
  if (type == TOKEN_LINE) p->next.line--;
}

static void two_char(Parser* p, char c, TokenType two, TokenType one) {
  make_token(p, match_char(p, c) ? two : one);
}

static bool is_name(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static void skip_line_comment(Parser* p) {
  while (peek_char(p) != '\n' && peek_char(p) != '\0') next_char(p);
}

static void skip_block_comment(Parser* p) {
  int nesting = 1;
  while (nesting > 0) {
    if (peek_char(p) == '\0') {
      lex_error(p, "Unterminated block comment.");
      return;
    }
    if (peek_char(p) == '/' && peek_next_char(p) == '*') {
      next_char(p);
      next_char(p);
      nesting++;
      continue;
    }
    if (peek_char(p) == '*' && peek_next_char(p) == '/') {
      next_char(p);
      next_char(p);
      nesting--;
      continue;
    }
    next_char(p);
  }
}

static int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static void make_number(Parser* p, bool isHex) {
  errno = 0;
  double value;
  if (isHex) {
    value = (double)strtoull(p->tokenStart, NULL, 16);
  } else {
    value = strtod(p->tokenStart, NULL);
  }
  if (errno == ERANGE) {
    lex_error(p, "Number literal was too large (%d).", (int)sizeof(long int));
    value = 0;
  }
  make_token(p, TOKEN_NUMBER);
  p->next.value = NUM_VAL(value);
}

static void read_hex_number(Parser* p) {
  next_char(p);
  while (hex_digit(peek_char(p)) != -1) next_char(p);
  make_number(p, true);
}

static void read_number(Parser* p) {
  while (is_digit(peek_char(p))) next_char(p);
  if (peek_char(p) == '.' && is_digit(peek_next_char(p))) {
    next_char(p);
    while (is_digit(peek_char(p))) next_char(p);
  }
  if (peek_char(p) == 'e' || peek_char(p) == 'E') {
    next_char(p);
    if (peek_char(p) == '+' || peek_char(p) == '-') next_char(p);
    if (!is_digit(peek_char(p))) lex_error(p, "Unterminated scientific notation.");
    while (is_digit(peek_char(p))) next_char(p);
  }
  make_number(p, false);
}

static void read_name(Parser* p, TokenType type, const char* firstChar) {
  while (is_name(peek_char(p)) || is_digit(peek_char(p))) next_char(p);
  size_t length = (size_t)(p->currentChar - firstChar);
  for (int i = 0; keywords[i].name != NULL; i++) {
    if (strlen(keywords[i].name) == length && memcmp(firstChar, keywords[i].name, length) == 0) {
      type = keywords[i].type;
      break;
    }
  }
  make_token(p, type);
}

static int read_hex_escape(Parser* p, int digits, const char* description) {
  int value = 0;
  for (int i = 0; i < digits; i++) {
    if (peek_char(p) == '"' || peek_char(p) == '\0') {
      lex_error(p, "Incomplete %s escape sequence.", description);
      return -1;
    }
    int d = hex_digit(next_char(p));
    if (d == -1) {
      lex_error(p, "Invalid %s escape sequence.", description);
      return -1;
    }
    value = value * 16 + d;
  }
  return value;
}

static void add_string_byte(Parser* p, uint8_t b) { wren_buffer_write_byte(p->vm, &p->strBuf, b); }

static void finish_string_token(Parser* p, TokenType type) {
  Value v = wren_new_string_length(p->vm, (const char*)p->strBuf.data, (size_t)p->strBuf.count);
  p->strBuf.count = 0;
  make_token(p, type);
  p->next.value = v;
}

static void read_raw_string(Parser* p) {
  /* The opening """ has been consumed. */
  p->strBuf.count = 0;
  int firstNewline = -1;
  int lastNewline = -1;
  int whitespace = -1;  /* start of trailing whitespace after last newline */
  bool onlyWhitespaceFirst = true;
  for (;;) {
    char c = next_char(p);
    if (c == '\0') {
      lex_error(p, "Unterminated raw string.");
      p->currentChar--;
      break;
    }
    if (c == '"' && peek_char(p) == '"' && peek_next_char(p) == '"') {
      next_char(p);
      next_char(p);
      break;
    }
    if (c == '\r') continue;
    if (c == '\n') {
      if (firstNewline == -1) firstNewline = p->strBuf.count;
      lastNewline = p->strBuf.count;
      whitespace = p->strBuf.count + 1;
    } else if (c != ' ' && c != '\t') {
      if (firstNewline == -1) onlyWhitespaceFirst = false;
      whitespace = -1;
    }
    add_string_byte(p, (uint8_t)c);
  }
  int start = 0;
  int end = p->strBuf.count;
  if (firstNewline != -1 && onlyWhitespaceFirst) start = firstNewline + 1;
  if (lastNewline != -1 && whitespace != -1 && lastNewline >= start) end = lastNewline;
  if (end < start) end = start;
  Value v = wren_new_string_length(p->vm, (const char*)p->strBuf.data + start, (size_t)(end - start));
  p->strBuf.count = 0;
  make_token(p, TOKEN_STRING);
  p->next.value = v;
}

static void read_string(Parser* p) {
  p->strBuf.count = 0;
  TokenType type = TOKEN_STRING;
  for (;;) {
    char c = next_char(p);
    if (c == '"') break;
    if (c == '\r') continue;
    if (c == '\0') {
      lex_error(p, "Unterminated string.");
      p->currentChar--;
      break;
    }
    if (c == '%') {
      if (p->numParens < MAX_INTERPOLATION_NESTING) {
        if (next_char(p) != '(') lex_error(p, "Expect '(' after '%%'.");
        p->parens[p->numParens++] = 1;
        type = TOKEN_INTERPOLATION;
        break;
      }
      lex_error(p, "Interpolation may only nest %d levels deep.", MAX_INTERPOLATION_NESTING);
    }
    if (c == '\\') {
      char e = next_char(p);
      switch (e) {
        case '"': add_string_byte(p, '"'); break;
        case '\\': add_string_byte(p, '\\'); break;
        case '%': add_string_byte(p, '%'); break;
        case '0': add_string_byte(p, '\0'); break;
        case 'a': add_string_byte(p, '\a'); break;
        case 'b': add_string_byte(p, '\b'); break;
        case 'e': add_string_byte(p, 0x1b); break;
        case 'f': add_string_byte(p, '\f'); break;
        case 'n': add_string_byte(p, '\n'); break;
        case 'r': add_string_byte(p, '\r'); break;
        case 't': add_string_byte(p, '\t'); break;
        case 'v': add_string_byte(p, '\v'); break;
        case 'x': {
          int v = read_hex_escape(p, 2, "byte");
          if (v != -1) add_string_byte(p, (uint8_t)v);
          break;
        }
        case 'u':
        case 'U': {
          int v = read_hex_escape(p, e == 'u' ? 4 : 8, "Unicode");
          if (v != -1) {
            uint8_t bytes[4];
            int n = wren_utf8_encode_num_bytes(v);
            if (n == 0) {
              lex_error(p, "Invalid Unicode escape sequence.");
            } else {
              wren_utf8_encode(v, bytes);
              for (int i = 0; i < n; i++) add_string_byte(p, bytes[i]);
            }
          }
          break;
        }
        default:
          if (e == '\0') {
            p->currentChar--;
            lex_error(p, "Unterminated string.");
            finish_string_token(p, TOKEN_STRING);
            return;
          }
          lex_error(p, "Invalid escape character '%c'.", e);
          break;
      }
      continue;
    }
    add_string_byte(p, (uint8_t)c);
  }
  finish_string_token(p, type);
}

static void lex_next(Parser* p) {
  p->next.type = TOKEN_EOF;
  p->next.length = 0;
  p->next.value = NULL_VAL;
  while (peek_char(p) != '\0') {
    p->tokenStart = p->currentChar;
    char c = next_char(p);
    switch (c) {
      case '(':
        if (p->numParens > 0) p->parens[p->numParens - 1]++;
        make_token(p, TOKEN_LEFT_PAREN);
        return;
      case ')':
        if (p->numParens > 0 && --p->parens[p->numParens - 1] == 0) {
          p->numParens--;
          read_string(p);
          return;
        }
        make_token(p, TOKEN_RIGHT_PAREN);
        return;
      case '[': make_token(p, TOKEN_LEFT_BRACKET); return;
      case ']': make_token(p, TOKEN_RIGHT_BRACKET); return;
      case '{': make_token(p, TOKEN_LEFT_BRACE); return;
      case '}': make_token(p, TOKEN_RIGHT_BRACE); return;
      case ':': make_token(p, TOKEN_COLON); return;
      case ',': make_token(p, TOKEN_COMMA); return;
      case '*': make_token(p, TOKEN_STAR); return;
      case '%': make_token(p, TOKEN_PERCENT); return;
      case '#':
        if (p->currentLine == 1 && peek_char(p) == '!' && p->tokenStart == p->source &&
            !is_name(peek_next_char(p))) {
          skip_line_comment(p);
          break;
        }
        make_token(p, TOKEN_HASH);
        return;
      case '^': make_token(p, TOKEN_CARET); return;
      case '+': make_token(p, TOKEN_PLUS); return;
      case '-': make_token(p, TOKEN_MINUS); return;
      case '~': make_token(p, TOKEN_TILDE); return;
      case '?': make_token(p, TOKEN_QUESTION); return;
      case '|': two_char(p, '|', TOKEN_PIPEPIPE, TOKEN_PIPE); return;
      case '&': two_char(p, '&', TOKEN_AMPAMP, TOKEN_AMP); return;
      case '=': two_char(p, '=', TOKEN_EQEQ, TOKEN_EQ); return;
      case '!': two_char(p, '=', TOKEN_BANGEQ, TOKEN_BANG); return;
      case '.':
        if (match_char(p, '.')) {
          two_char(p, '.', TOKEN_DOTDOTDOT, TOKEN_DOTDOT);
          return;
        }
        make_token(p, TOKEN_DOT);
        return;
      case '/':
        if (match_char(p, '/')) {
          skip_line_comment(p);
          break;
        }
        if (match_char(p, '*')) {
          skip_block_comment(p);
          break;
        }
        make_token(p, TOKEN_SLASH);
        return;
      case '<':
        if (match_char(p, '<')) make_token(p, TOKEN_LTLT);
        else two_char(p, '=', TOKEN_LTEQ, TOKEN_LT);
        return;
      case '>':
        if (match_char(p, '>')) make_token(p, TOKEN_GTGT);
        else two_char(p, '=', TOKEN_GTEQ, TOKEN_GT);
        return;
      case '\n': make_token(p, TOKEN_LINE); return;
      case ' ':
      case '\r':
      case '\t':
        while (peek_char(p) == ' ' || peek_char(p) == '\r' || peek_char(p) == '\t') next_char(p);
        break;
      case '"':
        if (peek_char(p) == '"' && peek_next_char(p) == '"') {
          next_char(p);
          next_char(p);
          read_raw_string(p);
          return;
        }
        read_string(p);
        return;
      case '_':
        read_name(p, peek_char(p) == '_' ? TOKEN_STATIC_FIELD : TOKEN_FIELD, p->tokenStart);
        return;
      case '0':
        if (peek_char(p) == 'x') {
          read_hex_number(p);
          return;
        }
        read_number(p);
        return;
      default:
        if (is_name(c)) {
          read_name(p, TOKEN_NAME, p->tokenStart);
        } else if (is_digit(c)) {
          read_number(p);
        } else {
          if (c >= 32 && c <= 126) {
            lex_error(p, "Invalid character '%c'.", c);
          } else {
            lex_error(p, "Invalid byte 0x%x.", (uint8_t)c);
          }
          /* The parser sees an error token (and reports nothing more for it),
             which ends the statement it appears in, as in the reference. */
          make_token(p, TOKEN_ERROR);
          p->next.length = 0;
        }
        return;
    }
  }
  p->tokenStart = p->currentChar;
  make_token(p, TOKEN_EOF);
}

/* ---- token stream ----------------------------------------------------- */

static void advance(Compiler* c) {
  Parser* p = c->parser;
  p->previous = p->current;
  p->current = p->next;
  if (p->next.type == TOKEN_EOF) return;
  if (p->current.type == TOKEN_EOF) return;
  lex_next(p);
}

static TokenType peek(Compiler* c) { return c->parser->current.type; }
static TokenType peek_next(Compiler* c) { return c->parser->next.type; }

static bool match(Compiler* c, TokenType t) {
  if (peek(c) != t) return false;
  advance(c);
  return true;
}

static void consume(Compiler* c, TokenType t, const char* message) {
  advance(c);
  if (c->parser->previous.type != t) {
    error(c, message);
    if (c->parser->current.type == t) advance(c);
  }
}

static bool match_line(Compiler* c) {
  if (!match(c, TOKEN_LINE)) return false;
  while (match(c, TOKEN_LINE)) {
  }
  return true;
}

static void ignore_newlines(Compiler* c) { match_line(c); }

static void consume_line(Compiler* c, const char* message) {
  consume(c, TOKEN_LINE, message);
  ignore_newlines(c);
}

/* ---- emission --------------------------------------------------------- */

static int emit_byte(Compiler* c, int byte) {
  WrenVM* vm = c->parser->vm;
  wren_buffer_write_byte(vm, &c->fn->code, (uint8_t)byte);
  wren_buffer_write_int(vm, &c->fn->lines, c->parser->previous.line);
  return c->fn->code.count - 1;
}

static void adjust_slots(Compiler* c, int effect) {
  c->numSlots += effect;
  if (c->numSlots > c->fn->maxSlots) c->fn->maxSlots = c->numSlots;
}

static void emit_op(Compiler* c, OpCode op) {
  emit_byte(c, op);
  adjust_slots(c, stackEffects[op]);
}

static void emit_short(Compiler* c, int arg) {
  emit_byte(c, (arg >> 8) & 0xff);
  emit_byte(c, arg & 0xff);
}

static int emit_byte_arg(Compiler* c, OpCode op, int arg) {
  emit_op(c, op);
  return emit_byte(c, arg);
}

static void emit_short_arg(Compiler* c, OpCode op, int arg) {
  emit_op(c, op);
  emit_short(c, arg);
}

static int emit_jump(Compiler* c, OpCode op) {
  emit_op(c, op);
  emit_byte(c, 0xff);
  return emit_byte(c, 0xff) - 1;
}

static void patch_jump(Compiler* c, int offset) {
  int jump = c->fn->code.count - offset - 2;
  if (jump > 0xffff) error(c, "Too much code to jump over.");
  c->fn->code.data[offset] = (uint8_t)((jump >> 8) & 0xff);
  c->fn->code.data[offset + 1] = (uint8_t)(jump & 0xff);
}

static int add_constant(Compiler* c, Value constant) {
  WrenVM* vm = c->parser->vm;
  if (c->parser->hasError && c->fn->constants.count >= MAX_CONSTANTS) return 0;
  bool dedupe = IS_NUM(constant) || IS_STRING(constant);
  if (dedupe) {
    if (c->constants == NULL) c->constants = wren_new_map(vm);
    Value existing = wren_map_get(c->constants, constant);
    if (!IS_UNDEFINED(existing)) return (int)AS_NUM(existing);
  }
  if (c->fn->constants.count >= MAX_CONSTANTS) {
    error(c, "A function may only contain %d unique constants.", MAX_CONSTANTS);
    return 0;
  }
  if (IS_OBJ(constant)) wren_push_root(vm, AS_OBJ(constant));
  wren_buffer_write_value(vm, &c->fn->constants, constant);
  if (dedupe) wren_map_set(vm, c->constants, constant, NUM_VAL((double)(c->fn->constants.count - 1)));
  if (IS_OBJ(constant)) wren_pop_root(vm);
  return c->fn->constants.count - 1;
}

static void emit_constant(Compiler* c, Value value) {
  emit_short_arg(c, OP_CONSTANT, add_constant(c, value));
}

/* ---- compilers, scopes, variables ------------------------------------- */

static void init_compiler(Compiler* c, Parser* p, Compiler* parent, bool isMethod) {
  WrenVM* vm = p->vm;
  c->parser = p;
  c->parent = parent;
  c->loop = NULL;
  c->enclosingClass = NULL;
  c->isInitializer = false;
  c->constants = NULL;
  c->pendingAttrs = NULL;
  c->fn = NULL;
  vm->compiler = c;
  c->numLocals = 1;
  c->numSlots = 1;
  c->locals[0].name = isMethod ? "this" : NULL;
  c->locals[0].length = isMethod ? 4 : 0;
  c->locals[0].depth = -1;
  c->locals[0].isUpvalue = false;
  c->scopeDepth = parent == NULL ? -1 : 0;
  if (parent != NULL) c->enclosingClass = parent->enclosingClass;
  c->fn = wren_new_fn(vm, p->module, 1);
}

static Compiler* new_compiler(Parser* p, Compiler* parent, bool isMethod) {
  Compiler* c = (Compiler*)wren_reallocate(p->vm, NULL, 0, sizeof(Compiler));
  init_compiler(c, p, parent, isMethod);
  return c;
}

static void free_compiler(Compiler* c) { wren_reallocate(c->parser->vm, c, sizeof(Compiler), 0); }

static ObjFn* end_compiler(Compiler* c, const char* debugName, int length) {
  Parser* p = c->parser;
  WrenVM* vm = p->vm;
  emit_op(c, OP_END);
  ObjFn* fn = c->fn;
  fn->name = (char*)wren_reallocate(vm, NULL, 0, (size_t)length + 1);
  memcpy(fn->name, debugName, (size_t)length);
  fn->name[length] = '\0';
  if (c->parent != NULL) {
    wren_push_root(vm, &fn->obj);
    vm->compiler = c->parent;
    int constant = add_constant(c->parent, OBJ_VAL(fn));
    emit_short_arg(c->parent, OP_CLOSURE, constant);
    for (int i = 0; i < fn->numUpvalues; i++) {
      emit_byte(c->parent, c->upvalues[i].isLocal ? 1 : 0);
      emit_byte(c->parent, c->upvalues[i].index);
    }
    wren_pop_root(vm);
  } else {
    vm->compiler = NULL;
  }
  return fn;
}

static void push_scope(Compiler* c) { c->scopeDepth++; }

/* Emits pops for locals deeper than depth; returns how many. */
static int discard_locals(Compiler* c, int depth) {
  int local = c->numLocals - 1;
  while (local >= 0 && c->locals[local].depth >= depth) {
    if (c->locals[local].isUpvalue) {
      emit_byte(c, OP_CLOSE_UPVALUE);
    } else {
      emit_byte(c, OP_POP);
    }
    local--;
  }
  return c->numLocals - 1 - local;
}

static void pop_scope(Compiler* c) {
  int popped = discard_locals(c, c->scopeDepth);
  c->numLocals -= popped;
  c->numSlots -= popped;
  c->scopeDepth--;
}

static bool is_local_name(const char* name) { return name[0] >= 'a' && name[0] <= 'z'; }

static void add_forward(Parser* p, int symbol, int line) {
  if (p->numForwards >= p->forwardCapacity) {
    int cap = p->forwardCapacity < 8 ? 8 : p->forwardCapacity * 2;
    p->forwards = (ForwardRef*)wren_reallocate(p->vm, p->forwards,
                                               sizeof(ForwardRef) * (size_t)p->forwardCapacity,
                                               sizeof(ForwardRef) * (size_t)cap);
    p->forwardCapacity = cap;
  }
  p->forwards[p->numForwards].symbol = symbol;
  p->forwards[p->numForwards].line = line;
  p->numForwards++;
}

static int find_forward(Parser* p, int symbol) {
  for (int i = 0; i < p->numForwards; i++) {
    if (p->forwards[i].symbol == symbol) return i;
  }
  return -1;
}

static int add_local(Compiler* c, const char* name, int length) {
  Local* local = &c->locals[c->numLocals];
  local->name = name;
  local->length = length;
  local->depth = c->scopeDepth;
  local->isUpvalue = false;
  return c->numLocals++;
}

static int declare_variable(Compiler* c, Token* token) {
  Parser* p = c->parser;
  WrenVM* vm = p->vm;
  if (token == NULL) token = &p->previous;
  if (token->length > MAX_VARIABLE_NAME) {
    error(c, "Variable name cannot be longer than %d characters.", MAX_VARIABLE_NAME);
  }
  if (c->scopeDepth == -1) {
    ObjModule* m = p->module;
    int symbol = wren_symbol_table_find(&m->variableNames, token->start, (size_t)token->length);
    if (symbol != -1) {
      int fwd = find_forward(p, symbol);
      if (fwd == -1) {
        error(c, "Module variable is already defined.");
        return symbol;
      }
      int line = p->forwards[fwd].line;
      p->forwards[fwd] = p->forwards[--p->numForwards];
      if (is_local_name(m->variableNames.data[symbol]->value)) {
        error(c, "Variable '%.*s' referenced before this definition (first use at line %d).",
              token->length, token->start, line);
      }
      return symbol;
    }
    if (m->variables.count >= MAX_MODULE_VARS) {
      error(c, "Too many module variables defined.");
      return 0;
    }
    return wren_define_variable(vm, m, token->start, (size_t)token->length, NULL_VAL);
  }
  for (int i = c->numLocals - 1; i >= 0; i--) {
    Local* local = &c->locals[i];
    if (local->depth < c->scopeDepth) break;
    if (local->length == token->length && memcmp(local->name, token->start, (size_t)token->length) == 0) {
      error(c, "Variable is already declared in this scope.");
      return i;
    }
  }
  if (c->numLocals >= MAX_LOCALS) {
    error(c, "Cannot declare more than %d variables in one scope.", MAX_LOCALS);
    return c->numLocals - 1;
  }
  return add_local(c, token->start, token->length);
}

static int declare_named_variable(Compiler* c) {
  consume(c, TOKEN_NAME, "Expect variable name.");
  return declare_variable(c, NULL);
}

static void define_variable(Compiler* c, int symbol) {
  if (c->scopeDepth >= 0) return;
  emit_short_arg(c, OP_STORE_MODULE_VAR, symbol);
  emit_op(c, OP_POP);
}

static int resolve_local(Compiler* c, const char* name, int length) {
  for (int i = c->numLocals - 1; i >= 0; i--) {
    if (c->locals[i].length == length && c->locals[i].name != NULL &&
        memcmp(name, c->locals[i].name, (size_t)length) == 0) {
      return i;
    }
  }
  return -1;
}

static int add_upvalue(Compiler* c, bool isLocal, int index) {
  for (int i = 0; i < c->fn->numUpvalues; i++) {
    if (c->upvalues[i].index == index && c->upvalues[i].isLocal == isLocal) return i;
  }
  if (c->fn->numUpvalues >= MAX_UPVALUES) {
    error(c, "Too many upvalues.");
    return 0;
  }
  c->upvalues[c->fn->numUpvalues].isLocal = isLocal;
  c->upvalues[c->fn->numUpvalues].index = index;
  return c->fn->numUpvalues++;
}

static int find_upvalue(Compiler* c, const char* name, int length) {
  if (c->parent == NULL) return -1;
  /* Methods cannot close over enclosing locals except through static
     fields and capitalised names, which are handled like any upvalue. */
  int local = resolve_local(c->parent, name, length);
  if (local != -1) {
    c->parent->locals[local].isUpvalue = true;
    return add_upvalue(c, true, local);
  }
  int upvalue = find_upvalue(c->parent, name, length);
  if (upvalue != -1) return add_upvalue(c, false, upvalue);
  return -1;
}

typedef enum { SCOPE_LOCAL, SCOPE_UPVALUE, SCOPE_MODULE } Scope;

typedef struct {
  Scope scope;
  int index;
} Variable;

static bool resolve_non_module(Compiler* c, const char* name, int length, Variable* out) {
  out->scope = SCOPE_LOCAL;
  out->index = resolve_local(c, name, length);
  if (out->index != -1) return true;
  out->scope = SCOPE_UPVALUE;
  out->index = find_upvalue(c, name, length);
  return out->index != -1;
}

static void load_local(Compiler* c, int slot) {
  if (slot <= 3) {
    emit_op(c, (OpCode)(OP_LOAD_LOCAL_0 + slot));
    return;
  }
  emit_byte_arg(c, OP_LOAD_LOCAL, slot);
}

static void load_variable(Compiler* c, Variable v) {
  switch (v.scope) {
    case SCOPE_LOCAL: load_local(c, v.index); break;
    case SCOPE_UPVALUE: emit_byte_arg(c, OP_LOAD_UPVALUE, v.index); break;
    case SCOPE_MODULE: emit_short_arg(c, OP_LOAD_MODULE_VAR, v.index); break;
  }
}

static void store_variable(Compiler* c, Variable v) {
  switch (v.scope) {
    case SCOPE_LOCAL: emit_byte_arg(c, OP_STORE_LOCAL, v.index); break;
    case SCOPE_UPVALUE: emit_byte_arg(c, OP_STORE_UPVALUE, v.index); break;
    case SCOPE_MODULE: emit_short_arg(c, OP_STORE_MODULE_VAR, v.index); break;
  }
}

static void load_core_variable(Compiler* c, const char* name) {
  Parser* p = c->parser;
  int symbol = wren_symbol_table_find(&p->module->variableNames, name, strlen(name));
  if (symbol == -1) {
    symbol = wren_define_variable(p->vm, p->module, name, strlen(name), NULL_VAL);
    add_forward(p, symbol, p->previous.line);
  }
  emit_short_arg(c, OP_LOAD_MODULE_VAR, symbol);
}

static ClassInfo* enclosing_class(Compiler* c) { return c->enclosingClass; }

/* Finds the method compiler (whose slot 0 is `this`), if any. */
static Compiler* method_compiler(Compiler* c) {
  while (c != NULL) {
    if (c->locals[0].name != NULL && c->locals[0].length == 4) return c;
    c = c->parent;
  }
  return NULL;
}

static void load_this(Compiler* c) {
  Variable v;
  if (resolve_non_module(c, "this", 4, &v)) {
    load_variable(c, v);
  } else {
    emit_op(c, OP_NULL);
  }
}

/* ---- grammar ---------------------------------------------------------- */

static void expression(Compiler* c);
static void statement(Compiler* c);
static void definition(Compiler* c);
static void parse_precedence(Compiler* c, Precedence precedence);
static const GrammarRule* get_rule(TokenType type);
static void method_call(Compiler* c, int instruction, Signature* sig);

static bool enter(Compiler* c) {
  if (++c->parser->depth > MAX_NESTING) {
    error(c, "Code is nested too deeply.");
    return false;
  }
  return true;
}
static void leave(Compiler* c) { c->parser->depth--; }

static void signature_to_string(Signature* s, char* out, int* length) {
  int n = 0;
  if (s->type == SIG_INITIALIZER) {
    memcpy(out, "init ", 5);
    n = 5;
  }
  memcpy(out + n, s->name, (size_t)s->length);
  n += s->length;
  switch (s->type) {
    case SIG_METHOD:
    case SIG_INITIALIZER:
      out[n++] = '(';
      for (int i = 0; i < s->arity; i++) {
        if (i > 0) out[n++] = ',';
        out[n++] = '_';
      }
      out[n++] = ')';
      break;
    case SIG_GETTER: break;
    case SIG_SETTER:
      memcpy(out + n, "=(_)", 4);
      n += 4;
      break;
    case SIG_SUBSCRIPT:
      out[n++] = '[';
      for (int i = 0; i < s->arity; i++) {
        if (i > 0) out[n++] = ',';
        out[n++] = '_';
      }
      out[n++] = ']';
      break;
    case SIG_SUBSCRIPT_SETTER:
      out[n++] = '[';
      for (int i = 0; i < s->arity - 1; i++) {
        if (i > 0) out[n++] = ',';
        out[n++] = '_';
      }
      out[n++] = ']';
      memcpy(out + n, "=(_)", 4);
      n += 4;
      break;
  }
  out[n] = '\0';
  *length = n;
}

static int signature_symbol(Compiler* c, Signature* s) {
  char name[MAX_METHOD_SIGNATURE + 8];
  int length;
  signature_to_string(s, name, &length);
  return wren_symbol_table_ensure(c->parser->vm, &c->parser->vm->methodNames, name, (size_t)length);
}

static Signature signature_from_token(Compiler* c, SignatureType type) {
  Signature s;
  Token* t = &c->parser->previous;
  s.name = t->start;
  s.length = t->length;
  s.type = type;
  s.arity = 0;
  if (s.length > MAX_METHOD_NAME) {
    error(c, "Method names cannot be longer than %d characters.", MAX_METHOD_NAME);
    s.length = MAX_METHOD_NAME;
  }
  return s;
}

static void validate_num_parameters(Compiler* c, int numArgs) {
  if (numArgs == MAX_PARAMETERS + 1) {
    error(c, "Methods cannot have more than %d parameters.", MAX_PARAMETERS);
  }
}

static void finish_argument_list(Compiler* c, Signature* s) {
  do {
    ignore_newlines(c);
    validate_num_parameters(c, ++s->arity);
    expression(c);
  } while (match(c, TOKEN_COMMA));
  ignore_newlines(c);
}

static void finish_parameter_list(Compiler* c, Signature* s) {
  do {
    ignore_newlines(c);
    validate_num_parameters(c, ++s->arity);
    declare_named_variable(c);
  } while (match(c, TOKEN_COMMA));
}

/* A call of `symbol` with `arity` arguments: OP_CALL_n, or the inline
   instruction of an operator, subscript or iteration call of one argument. */
static void emit_call(Compiler* c, int arity, int symbol) {
  const uint8_t* fast = c->parser->vm->fastInfix;
  if (arity == 1 && symbol < FAST_INFIX_SYMBOLS && fast[symbol] != FAST_NONE) {
    emit_short_arg(c, (OpCode)(OP_ADD + (fast[symbol] - FAST_PLUS)), symbol);
  } else {
    emit_short_arg(c, (OpCode)(OP_CALL_0 + arity), symbol);
  }
}

static void call_signature(Compiler* c, int instruction, Signature* s) {
  int symbol = signature_symbol(c, s);
  int arity = s->arity > MAX_PARAMETERS ? MAX_PARAMETERS : s->arity;
  if (instruction == OP_CALL_0) {
    emit_call(c, arity, symbol);
  } else {
    emit_short_arg(c, (OpCode)(instruction + arity), symbol);
  }
  adjust_slots(c, -arity);
  if (instruction == OP_SUPER_0) {
    emit_short(c, add_constant(c, NULL_VAL));
  }
}

static void finish_body_after_brace(Compiler* c);

static void block_argument(Compiler* c, Signature* called) {
  Compiler* fc = new_compiler(c->parser, c, false);
  Signature fs = {"", 0, SIG_METHOD, 0};
  if (match(c, TOKEN_PIPE)) {
    finish_parameter_list(fc, &fs);
    consume(c, TOKEN_PIPE, "Expect '|' after function parameters.");
  }
  fc->fn->arity = fs.arity;
  fc->numSlots = fc->numLocals;
  adjust_slots(fc, 0);
  finish_body_after_brace(fc);
  char name[MAX_METHOD_SIGNATURE + 32];
  int length;
  signature_to_string(called, name, &length);
  memcpy(name + length, " block argument", 16);
  end_compiler(fc, name, length + 15);
  free_compiler(fc);
}

static void method_call(Compiler* c, int instruction, Signature* sig) {
  Signature called = {sig->name, sig->length, SIG_GETTER, 0};
  if (match(c, TOKEN_LEFT_PAREN)) {
    called.type = SIG_METHOD;
    ignore_newlines(c);
    if (peek(c) != TOKEN_RIGHT_PAREN) finish_argument_list(c, &called);
    consume(c, TOKEN_RIGHT_PAREN, "Expect ')' after arguments.");
  }
  if (match(c, TOKEN_LEFT_BRACE)) {
    called.type = SIG_METHOD;
    called.arity++;
    validate_num_parameters(c, called.arity);
    Signature blockSig = called;
    block_argument(c, &blockSig);
  }
  if (sig->type == SIG_INITIALIZER) {
    if (called.type != SIG_METHOD) error(c, "A superclass constructor must have an argument list.");
    called.type = SIG_INITIALIZER;
  }
  call_signature(c, instruction, &called);
}

static void named_call(Compiler* c, bool canAssign, int instruction) {
  Signature s = signature_from_token(c, SIG_GETTER);
  if (canAssign && match(c, TOKEN_EQ)) {
    ignore_newlines(c);
    s.type = SIG_SETTER;
    s.arity = 1;
    expression(c);
    call_signature(c, instruction, &s);
  } else {
    method_call(c, instruction, &s);
  }
}

static void grouping(Compiler* c, bool canAssign) {
  (void)canAssign;
  ignore_newlines(c);
  expression(c);
  ignore_newlines(c);
  consume(c, TOKEN_RIGHT_PAREN, "Expect ')' after expression.");
}

static void call_core_method(Compiler* c, const char* sig, int arity) {
  int symbol = wren_symbol_table_ensure(c->parser->vm, &c->parser->vm->methodNames, sig, strlen(sig));
  emit_call(c, arity, symbol);
  adjust_slots(c, -arity);
}

static void list_literal(Compiler* c, bool canAssign) {
  (void)canAssign;
  load_core_variable(c, "List");
  call_core_method(c, "new()", 0);
  do {
    ignore_newlines(c);
    if (peek(c) == TOKEN_RIGHT_BRACKET) break;
    expression(c);
    call_core_method(c, "addCore_(_)", 1);
  } while (match(c, TOKEN_COMMA));
  ignore_newlines(c);
  consume(c, TOKEN_RIGHT_BRACKET, "Expect ']' after list elements.");
}

static void map_literal(Compiler* c, bool canAssign) {
  (void)canAssign;
  load_core_variable(c, "Map");
  call_core_method(c, "new()", 0);
  do {
    ignore_newlines(c);
    if (peek(c) == TOKEN_RIGHT_BRACE) break;
    parse_precedence(c, PREC_UNARY);
    consume(c, TOKEN_COLON, "Expect ':' after map key.");
    ignore_newlines(c);
    expression(c);
    call_core_method(c, "addCore_(_,_)", 2);
  } while (match(c, TOKEN_COMMA));
  ignore_newlines(c);
  consume(c, TOKEN_RIGHT_BRACE, "Expect '}' after map entries.");
}

static void unary_op(Compiler* c, bool canAssign) {
  (void)canAssign;
  const GrammarRule* rule = get_rule(c->parser->previous.type);
  ignore_newlines(c);
  parse_precedence(c, (Precedence)(PREC_UNARY + 1));
  Signature s = {rule->name, (int)strlen(rule->name), SIG_GETTER, 0};
  call_signature(c, OP_CALL_0, &s);
}

static void boolean(Compiler* c, bool canAssign) {
  (void)canAssign;
  emit_op(c, c->parser->previous.type == TOKEN_FALSE ? OP_FALSE : OP_TRUE);
}

static void null_literal(Compiler* c, bool canAssign) {
  (void)canAssign;
  emit_op(c, OP_NULL);
}

static void literal(Compiler* c, bool canAssign) {
  (void)canAssign;
  emit_constant(c, c->parser->previous.value);
}

static void string_interpolation(Compiler* c, bool canAssign) {
  (void)canAssign;
  load_core_variable(c, "List");
  call_core_method(c, "new()", 0);
  do {
    literal(c, false);
    call_core_method(c, "addCore_(_)", 1);
    ignore_newlines(c);
    expression(c);
    call_core_method(c, "addCore_(_)", 1);
    ignore_newlines(c);
  } while (match(c, TOKEN_INTERPOLATION));
  consume(c, TOKEN_STRING, "Expect end of string interpolation.");
  literal(c, false);
  call_core_method(c, "addCore_(_)", 1);
  call_core_method(c, "join()", 0);
}

static void field(Compiler* c, bool canAssign) {
  int index = 255;
  ClassInfo* ci = enclosing_class(c);
  Token* t = &c->parser->previous;
  if (ci == NULL) {
    error(c, "Cannot reference a field outside of a class definition.");
  } else if (ci->isForeign) {
    error(c, "Cannot define fields in a foreign class.");
  } else if (ci->inStatic) {
    error(c, "Cannot use an instance field in a static method.");
  } else {
    index = wren_symbol_table_ensure(c->parser->vm, &ci->fields, t->start, (size_t)t->length);
    if (index >= MAX_FIELDS) error(c, "A class can only have %d fields.", MAX_FIELDS);
  }
  bool isLoad = true;
  if (canAssign && match(c, TOKEN_EQ)) {
    ignore_newlines(c);
    expression(c);
    isLoad = false;
  }
  if (index > 255) index = 255;
  if (c->parent != NULL && c == method_compiler(c)) {
    emit_byte_arg(c, isLoad ? OP_LOAD_FIELD_THIS : OP_STORE_FIELD_THIS, index);
  } else {
    load_this(c);
    emit_byte_arg(c, isLoad ? OP_LOAD_FIELD : OP_STORE_FIELD, index);
  }
}

static void bare_name(Compiler* c, bool canAssign, Variable v) {
  if (canAssign && match(c, TOKEN_EQ)) {
    ignore_newlines(c);
    expression(c);
    store_variable(c, v);
    return;
  }
  load_variable(c, v);
}

static void static_field(Compiler* c, bool canAssign) {
  Token* t = &c->parser->previous;
  ClassInfo* ci = enclosing_class(c);
  Compiler* mc = method_compiler(c);
  if (ci == NULL || mc == NULL || mc->parent == NULL) {
    error(c, "Cannot use a static field outside of a class definition.");
    emit_op(c, OP_NULL);
    return;
  }
  /* Static fields live as locals of the scope around the class body. */
  Compiler* classCompiler = mc->parent;
  if (resolve_local(classCompiler, t->start, t->length) == -1) {
    declare_variable(classCompiler, t);
    emit_op(classCompiler, OP_NULL);
  }
  Variable v;
  resolve_non_module(c, t->start, t->length, &v);
  bare_name(c, canAssign, v);
}

static void name(Compiler* c, bool canAssign) {
  Token* t = &c->parser->previous;
  Parser* p = c->parser;
  Variable v;
  if (resolve_non_module(c, t->start, t->length, &v)) {
    bare_name(c, canAssign, v);
    return;
  }
  v.scope = SCOPE_MODULE;
  v.index = wren_symbol_table_find(&p->module->variableNames, t->start, (size_t)t->length);
  if (is_local_name(t->start) && enclosing_class(c) != NULL && method_compiler(c) != NULL) {
    /* In a method, a lowercase name that is no local or upvalue is a call on
       `this`, as in the reference: a module variable of that name, declared
       before or after the class, is not reached. */
    load_this(c);
    named_call(c, canAssign, OP_CALL_0);
    return;
  }
  if (v.index == -1) {
    if (t->length > MAX_VARIABLE_NAME) {
      error(c, "Variable name cannot be longer than %d characters.", MAX_VARIABLE_NAME);
    }
    v.index = wren_define_variable(p->vm, p->module, t->start, (size_t)t->length, NULL_VAL);
    add_forward(p, v.index, t->line);
  }
  bare_name(c, canAssign, v);
}

static void this_(Compiler* c, bool canAssign) {
  (void)canAssign;
  if (method_compiler(c) == NULL || enclosing_class(c) == NULL) {
    error(c, "Cannot use 'this' outside of a method.");
    emit_op(c, OP_NULL);
    return;
  }
  load_this(c);
}

static void super_(Compiler* c, bool canAssign) {
  ClassInfo* ci = enclosing_class(c);
  if (ci == NULL || method_compiler(c) == NULL) {
    error(c, "Cannot use 'super' outside of a method.");
  }
  load_this(c);
  if (match(c, TOKEN_DOT)) {
    ignore_newlines(c);
    consume(c, TOKEN_NAME, "Expect method name after 'super.'.");
    named_call(c, canAssign, OP_SUPER_0);
  } else if (ci != NULL && ci->signature != NULL) {
    Signature s = *ci->signature;
    s.arity = 0;
    method_call(c, OP_SUPER_0, &s);
  } else {
    Signature s = {"", 0, SIG_GETTER, 0};
    method_call(c, OP_SUPER_0, &s);
  }
}

static void subscript(Compiler* c, bool canAssign) {
  Signature s = {"", 0, SIG_SUBSCRIPT, 0};
  /* An empty `x[]` fails on its missing argument; the newlines the argument list
     allows before `]` are skipped before `]` is looked for, as the reference does. */
  finish_argument_list(c, &s);
  consume(c, TOKEN_RIGHT_BRACKET, "Expect ']' after arguments.");
  if (canAssign && match(c, TOKEN_EQ)) {
    ignore_newlines(c);
    s.type = SIG_SUBSCRIPT_SETTER;
    validate_num_parameters(c, ++s.arity);
    expression(c);
  }
  call_signature(c, OP_CALL_0, &s);
}

static void call(Compiler* c, bool canAssign) {
  ignore_newlines(c);
  consume(c, TOKEN_NAME, "Expect method name after '.'.");
  named_call(c, canAssign, OP_CALL_0);
}

static void and_(Compiler* c, bool canAssign) {
  (void)canAssign;
  ignore_newlines(c);
  int jump = emit_jump(c, OP_AND);
  parse_precedence(c, PREC_LOGICAL_AND);
  patch_jump(c, jump);
}

static void or_(Compiler* c, bool canAssign) {
  (void)canAssign;
  ignore_newlines(c);
  int jump = emit_jump(c, OP_OR);
  parse_precedence(c, PREC_LOGICAL_OR);
  patch_jump(c, jump);
}

static void conditional(Compiler* c, bool canAssign) {
  (void)canAssign;
  ignore_newlines(c);
  int ifJump = emit_jump(c, OP_JUMP_IF);
  parse_precedence(c, PREC_CONDITIONAL);
  consume(c, TOKEN_COLON, "Expect ':' after then branch of conditional operator.");
  ignore_newlines(c);
  int elseJump = emit_jump(c, OP_JUMP);
  patch_jump(c, ifJump);
  adjust_slots(c, -1);
  parse_precedence(c, PREC_ASSIGNMENT);
  patch_jump(c, elseJump);
}

static void infix_op(Compiler* c, bool canAssign) {
  (void)canAssign;
  const GrammarRule* rule = get_rule(c->parser->previous.type);
  ignore_newlines(c);
  parse_precedence(c, (Precedence)(rule->precedence + 1));
  Signature s = {rule->name, (int)strlen(rule->name), SIG_METHOD, 1};
  call_signature(c, OP_CALL_0, &s);
}

#define UNUSED {NULL, NULL, PREC_NONE, NULL}
#define PREFIX(fn) {fn, NULL, PREC_NONE, NULL}
#define INFIX(prec, fn) {NULL, fn, prec, NULL}
#define INFIX_OP(prec, name) {NULL, infix_op, prec, name}
#define OPERATOR(name) {unary_op, infix_op, PREC_TERM, name}
#define PREFIX_OP(name) {unary_op, NULL, PREC_NONE, name}

static const GrammarRule rules[] = {
    [TOKEN_LEFT_PAREN] = PREFIX(grouping),
    [TOKEN_RIGHT_PAREN] = UNUSED,
    [TOKEN_LEFT_BRACKET] = {list_literal, subscript, PREC_CALL, NULL},
    [TOKEN_RIGHT_BRACKET] = UNUSED,
    [TOKEN_LEFT_BRACE] = PREFIX(map_literal),
    [TOKEN_RIGHT_BRACE] = UNUSED,
    [TOKEN_COLON] = UNUSED,
    [TOKEN_DOT] = INFIX(PREC_CALL, call),
    [TOKEN_DOTDOT] = INFIX_OP(PREC_RANGE, ".."),
    [TOKEN_DOTDOTDOT] = INFIX_OP(PREC_RANGE, "..."),
    [TOKEN_COMMA] = UNUSED,
    [TOKEN_STAR] = INFIX_OP(PREC_FACTOR, "*"),
    [TOKEN_SLASH] = INFIX_OP(PREC_FACTOR, "/"),
    [TOKEN_PERCENT] = INFIX_OP(PREC_FACTOR, "%"),
    [TOKEN_HASH] = UNUSED,
    [TOKEN_PLUS] = INFIX_OP(PREC_TERM, "+"),
    [TOKEN_MINUS] = OPERATOR("-"),
    [TOKEN_LTLT] = INFIX_OP(PREC_BITWISE_SHIFT, "<<"),
    [TOKEN_GTGT] = INFIX_OP(PREC_BITWISE_SHIFT, ">>"),
    [TOKEN_PIPE] = INFIX_OP(PREC_BITWISE_OR, "|"),
    [TOKEN_PIPEPIPE] = INFIX(PREC_LOGICAL_OR, or_),
    [TOKEN_CARET] = INFIX_OP(PREC_BITWISE_XOR, "^"),
    [TOKEN_AMP] = INFIX_OP(PREC_BITWISE_AND, "&"),
    [TOKEN_AMPAMP] = INFIX(PREC_LOGICAL_AND, and_),
    [TOKEN_BANG] = PREFIX_OP("!"),
    [TOKEN_TILDE] = PREFIX_OP("~"),
    [TOKEN_QUESTION] = INFIX(PREC_ASSIGNMENT, conditional),
    [TOKEN_EQ] = UNUSED,
    [TOKEN_LT] = INFIX_OP(PREC_COMPARISON, "<"),
    [TOKEN_GT] = INFIX_OP(PREC_COMPARISON, ">"),
    [TOKEN_LTEQ] = INFIX_OP(PREC_COMPARISON, "<="),
    [TOKEN_GTEQ] = INFIX_OP(PREC_COMPARISON, ">="),
    [TOKEN_EQEQ] = INFIX_OP(PREC_EQUALITY, "=="),
    [TOKEN_BANGEQ] = INFIX_OP(PREC_EQUALITY, "!="),
    [TOKEN_AS] = UNUSED,
    [TOKEN_BREAK] = UNUSED,
    [TOKEN_CLASS] = UNUSED,
    [TOKEN_CONSTRUCT] = UNUSED,
    [TOKEN_CONTINUE] = UNUSED,
    [TOKEN_ELSE] = UNUSED,
    [TOKEN_FALSE] = PREFIX(boolean),
    [TOKEN_FOR] = UNUSED,
    [TOKEN_FOREIGN] = UNUSED,
    [TOKEN_IF] = UNUSED,
    [TOKEN_IMPORT] = UNUSED,
    [TOKEN_IN] = UNUSED,
    [TOKEN_IS] = INFIX_OP(PREC_IS, "is"),
    [TOKEN_NULL] = PREFIX(null_literal),
    [TOKEN_RETURN] = UNUSED,
    [TOKEN_STATIC] = UNUSED,
    [TOKEN_SUPER] = PREFIX(super_),
    [TOKEN_THIS] = PREFIX(this_),
    [TOKEN_TRUE] = PREFIX(boolean),
    [TOKEN_VAR] = UNUSED,
    [TOKEN_WHILE] = UNUSED,
    [TOKEN_FIELD] = PREFIX(field),
    [TOKEN_STATIC_FIELD] = PREFIX(static_field),
    [TOKEN_NAME] = PREFIX(name),
    [TOKEN_NUMBER] = PREFIX(literal),
    [TOKEN_STRING] = PREFIX(literal),
    [TOKEN_INTERPOLATION] = PREFIX(string_interpolation),
    [TOKEN_LINE] = UNUSED,
    [TOKEN_ERROR] = UNUSED,
    [TOKEN_EOF] = UNUSED,
};

static const GrammarRule* get_rule(TokenType type) { return &rules[type]; }

static void parse_precedence(Compiler* c, Precedence precedence) {
  if (!enter(c)) {
    leave(c);
    /* Skip the rest of the input to avoid deep recursion. */
    while (peek(c) != TOKEN_EOF) advance(c);
    emit_op(c, OP_NULL);
    return;
  }
  advance(c);
  GrammarFn prefix = rules[c->parser->previous.type].prefix;
  if (prefix == NULL) {
    error(c, "Expected expression.");
    emit_op(c, OP_NULL);
    leave(c);
    return;
  }
  bool canAssign = precedence <= PREC_CONDITIONAL;
  prefix(c, canAssign);
  for (;;) {
    /* A newline before '.' continues a call chain. */
    if (peek(c) == TOKEN_LINE && peek_next(c) == TOKEN_DOT) {
      advance(c);
    }
    if (precedence > rules[peek(c)].precedence) break;
    advance(c);
    GrammarFn infix = rules[c->parser->previous.type].infix;
    if (infix == NULL) break;
    infix(c, canAssign);
  }
  leave(c);
}

static void expression(Compiler* c) { parse_precedence(c, PREC_LOWEST); }

/* ---- statements ------------------------------------------------------- */


static void finish_block(Compiler* c, bool* returnsValue) {
  /* '{' consumed. Returns true in *returnsValue if it was an expression body. */
  *returnsValue = false;
  if (match(c, TOKEN_RIGHT_BRACE)) return;
  if (!match_line(c)) {
    expression(c);
    consume(c, TOKEN_RIGHT_BRACE, "Expect '}' at end of block.");
    *returnsValue = true;
    return;
  }
  if (match(c, TOKEN_RIGHT_BRACE)) return;
  do {
    definition(c);
    consume_line(c, "Expect newline after statement.");
  } while (peek(c) != TOKEN_RIGHT_BRACE && peek(c) != TOKEN_EOF);
  consume(c, TOKEN_RIGHT_BRACE, "Expect '}' at end of block.");
}

static void finish_body_after_brace(Compiler* c) {
  bool isExpression;
  finish_block(c, &isExpression);
  if (c->isInitializer) {
    if (isExpression) emit_op(c, OP_POP);
    emit_op(c, OP_LOAD_LOCAL_0);
  } else if (!isExpression) {
    emit_op(c, OP_NULL);
  }
  emit_op(c, OP_RETURN);
}

static void block(Compiler* c) {
  /* '{' consumed. */
  push_scope(c);
  bool isExpression;
  finish_block(c, &isExpression);
  if (isExpression) emit_op(c, OP_POP);
  pop_scope(c);
}

static void start_loop(Compiler* c, Loop* loop) {
  loop->enclosing = c->loop;
  loop->start = c->fn->code.count;
  loop->scopeDepth = c->scopeDepth;
  loop->breaks.data = NULL;
  loop->breaks.count = loop->breaks.capacity = 0;
  c->loop = loop;
}

static void test_exit_loop(Compiler* c) { c->loop->exitJump = emit_jump(c, OP_JUMP_IF); }

static void loop_body(Compiler* c) { statement(c); }

static void emit_loop(Compiler* c) {
  int offset = c->fn->code.count - c->loop->start + 3;
  if (offset > 0xffff) error(c, "Loop body too large.");
  emit_short_arg(c, OP_LOOP, offset & 0xffff);
}

static void end_loop(Compiler* c) {
  emit_loop(c);
  patch_jump(c, c->loop->exitJump);
  for (int i = 0; i < c->loop->breaks.count; i++) patch_jump(c, c->loop->breaks.data[i]);
  wren_buffer_free_int(c->parser->vm, &c->loop->breaks);
  c->loop = c->loop->enclosing;
}

static void while_statement(Compiler* c) {
  Loop loop;
  start_loop(c, &loop);
  consume(c, TOKEN_LEFT_PAREN, "Expect '(' after 'while'.");
  ignore_newlines(c);
  expression(c);
  ignore_newlines(c);
  consume(c, TOKEN_RIGHT_PAREN, "Expect ')' after while condition.");
  test_exit_loop(c);
  loop_body(c);
  end_loop(c);
}

static void for_statement(Compiler* c) {
  push_scope(c);
  consume(c, TOKEN_LEFT_PAREN, "Expect '(' after 'for'.");
  ignore_newlines(c);
  consume(c, TOKEN_NAME, "Expect for loop variable name.");
  Token nameToken = c->parser->previous;
  consume(c, TOKEN_IN, "Expect 'in' after loop variable.");
  ignore_newlines(c);
  expression(c);
  ignore_newlines(c);
  consume(c, TOKEN_RIGHT_PAREN, "Expect ')' after loop expression.");
  if (c->numLocals + 2 > MAX_LOCALS) {
    error(c, "Cannot declare more than %d variables in one scope. (Not enough space for for-loops internal variables)", MAX_LOCALS);
    pop_scope(c);
    return;
  }
  int seqSlot = add_local(c, "seq ", 4);
  emit_op(c, OP_NULL);
  int iterSlot = add_local(c, "iter ", 5);
  Loop loop;
  start_loop(c, &loop);
  load_local(c, seqSlot);
  load_local(c, iterSlot);
  call_core_method(c, "iterate(_)", 1);
  emit_byte_arg(c, OP_STORE_LOCAL, iterSlot);
  test_exit_loop(c);
  load_local(c, seqSlot);
  load_local(c, iterSlot);
  call_core_method(c, "iteratorValue(_)", 1);
  push_scope(c);
  add_local(c, nameToken.start, nameToken.length);
  if (nameToken.length > MAX_VARIABLE_NAME) {
    error(c, "Variable name cannot be longer than %d characters.", MAX_VARIABLE_NAME);
  }
  loop_body(c);
  pop_scope(c);
  end_loop(c);
  pop_scope(c);
}

static void if_statement(Compiler* c) {
  consume(c, TOKEN_LEFT_PAREN, "Expect '(' after 'if'.");
  ignore_newlines(c);
  expression(c);
  ignore_newlines(c);
  consume(c, TOKEN_RIGHT_PAREN, "Expect ')' after if condition.");
  int ifJump = emit_jump(c, OP_JUMP_IF);
  statement(c);
  if (match(c, TOKEN_ELSE)) {
    int elseJump = emit_jump(c, OP_JUMP);
    patch_jump(c, ifJump);
    statement(c);
    patch_jump(c, elseJump);
  } else if (peek(c) == TOKEN_LINE && peek_next(c) == TOKEN_ELSE) {
    advance(c);
    advance(c);
    int elseJump = emit_jump(c, OP_JUMP);
    patch_jump(c, ifJump);
    statement(c);
    patch_jump(c, elseJump);
  } else {
    patch_jump(c, ifJump);
  }
}

static void statement(Compiler* c) {
  if (!enter(c)) {
    leave(c);
    while (peek(c) != TOKEN_EOF) advance(c);
    return;
  }
  if (match(c, TOKEN_BREAK)) {
    if (c->loop == NULL) {
      error(c, "Cannot use 'break' outside of a loop.");
    } else {
      discard_locals(c, c->loop->scopeDepth + 1);
      int jump = emit_jump(c, OP_JUMP);
      wren_buffer_write_int(c->parser->vm, &c->loop->breaks, jump);
    }
  } else if (match(c, TOKEN_CONTINUE)) {
    if (c->loop == NULL) {
      error(c, "Cannot use 'continue' outside of a loop.");
    } else {
      discard_locals(c, c->loop->scopeDepth + 1);
      emit_loop(c);
    }
  } else if (match(c, TOKEN_FOR)) {
    for_statement(c);
  } else if (match(c, TOKEN_IF)) {
    if_statement(c);
  } else if (match(c, TOKEN_RETURN)) {
    if (peek(c) == TOKEN_LINE || peek(c) == TOKEN_RIGHT_BRACE || peek(c) == TOKEN_EOF) {
      if (c->isInitializer) {
        emit_op(c, OP_LOAD_LOCAL_0);
      } else {
        emit_op(c, OP_NULL);
      }
    } else {
      if (c->isInitializer) error(c, "A constructor cannot return a value.");
      expression(c);
    }
    if (c->parent == NULL) emit_op(c, OP_END_MODULE);
    emit_op(c, OP_RETURN);
    adjust_slots(c, -1);
  } else if (match(c, TOKEN_WHILE)) {
    while_statement(c);
  } else if (match(c, TOKEN_LEFT_BRACE)) {
    block(c);
  } else {
    expression(c);
    emit_op(c, OP_POP);
  }
  leave(c);
}

/* ---- attributes ------------------------------------------------------- */

static bool parse_attribute_value(Compiler* c, Value* out) {
  WrenVM* vm = c->parser->vm;
  if (match(c, TOKEN_NAME)) {
    *out = wren_new_string_length(vm, c->parser->previous.start, (size_t)c->parser->previous.length);
    return true;
  }
  if (match(c, TOKEN_STRING) || match(c, TOKEN_NUMBER)) {
    *out = c->parser->previous.value;
    return true;
  }
  if (match(c, TOKEN_TRUE)) {
    *out = TRUE_VAL;
    return true;
  }
  if (match(c, TOKEN_FALSE)) {
    *out = FALSE_VAL;
    return true;
  }
  if (match(c, TOKEN_NULL)) {
    *out = NULL_VAL;
    return true;
  }
  advance(c);
  error(c, "Expect a Name, String, Bool or Num literal as an attribute value.");
  return false;
}

static void add_pending_attr(Compiler* c, Value group, Value key, Value value, bool runtime) {
  WrenVM* vm = c->parser->vm;
  if (!runtime) return;
  Value items[3] = {group, key, value};
  for (int i = 0; i < 3; i++) {
    if (IS_OBJ(items[i])) wren_push_root(vm, AS_OBJ(items[i]));
  }
  if (c->pendingAttrs == NULL) c->pendingAttrs = wren_new_list(vm, 0);
  for (int i = 0; i < 3; i++) wren_list_insert(vm, c->pendingAttrs, items[i], c->pendingAttrs->elements.count);
  for (int i = 0; i < 3; i++) {
    if (IS_OBJ(items[i])) wren_pop_root(vm);
  }
}

static Value token_string(Compiler* c) {
  Token* t = &c->parser->previous;
  return wren_new_string_length(c->parser->vm, t->start, (size_t)t->length);
}

/* Parses one attribute after '#'. */
static void attribute(Compiler* c) {
  WrenVM* vm = c->parser->vm;
  bool runtime = match(c, TOKEN_BANG);
  consume(c, TOKEN_NAME, "Expect an attribute definition name.");
  Value group = token_string(c);
  wren_push_root(vm, AS_OBJ(group));
  if (match(c, TOKEN_LEFT_PAREN)) {
    ignore_newlines(c);
    if (match(c, TOKEN_RIGHT_PAREN)) {
      error(c, "Expected attributes in group, group cannot be empty.");
    } else {
      do {
        ignore_newlines(c);
        consume(c, TOKEN_NAME, "Expect an attribute definition name.");
        Value key = token_string(c);
        wren_push_root(vm, AS_OBJ(key));
        Value value = NULL_VAL;
        if (match(c, TOKEN_EQ)) parse_attribute_value(c, &value);
        add_pending_attr(c, group, key, value, runtime);
        wren_pop_root(vm);
        ignore_newlines(c);
      } while (match(c, TOKEN_COMMA));
      consume(c, TOKEN_RIGHT_PAREN, "Expect ')' after grouped attributes.");
    }
  } else {
    Value value = NULL_VAL;
    if (match(c, TOKEN_EQ)) parse_attribute_value(c, &value);
    add_pending_attr(c, NULL_VAL, group, value, runtime);
  }
  wren_pop_root(vm);
  consume_line(c, "Expect newline after attribute.");
}

static void parse_attributes(Compiler* c) {
  while (match(c, TOKEN_HASH)) attribute(c);
}

/* Adds [group, key, value] triples from `from` (starting at 0) into a nested map. */
static Value build_attr_group(WrenVM* vm, ObjList* from, int start, int stride) {
  ObjMap* groups = wren_new_map(vm);
  wren_push_root(vm, &groups->obj);
  for (int i = start; i + 2 < from->elements.count; i += stride) {
    Value group = from->elements.data[i];
    Value key = from->elements.data[i + 1];
    Value value = from->elements.data[i + 2];
    Value keys = wren_map_get(groups, group);
    if (IS_UNDEFINED(keys)) {
      keys = OBJ_VAL(wren_new_map(vm));
      wren_push_root(vm, AS_OBJ(keys));
      wren_map_set(vm, groups, group, keys);
      wren_pop_root(vm);
    }
    Value values = wren_map_get(AS_MAP(keys), key);
    if (IS_UNDEFINED(values)) {
      values = OBJ_VAL(wren_new_list(vm, 0));
      wren_push_root(vm, AS_OBJ(values));
      wren_map_set(vm, AS_MAP(keys), key, values);
      wren_pop_root(vm);
    }
    wren_list_insert(vm, AS_LIST(values), value, AS_LIST(values)->elements.count);
  }
  wren_pop_root(vm);
  return OBJ_VAL(groups);
}

static Value build_class_attributes(Compiler* c, ClassInfo* ci) {
  WrenVM* vm = c->parser->vm;
  if (ci->classAttrs == NULL && ci->methodAttrs == NULL) return NULL_VAL;
  Value self = NULL_VAL;
  Value methods = NULL_VAL;
  if (ci->classAttrs != NULL) self = build_attr_group(vm, ci->classAttrs, 0, 3);
  if (IS_OBJ(self)) wren_push_root(vm, AS_OBJ(self));
  if (ci->methodAttrs != NULL) {
    ObjMap* m = wren_new_map(vm);
    methods = OBJ_VAL(m);
    wren_push_root(vm, &m->obj);
    ObjList* list = ci->methodAttrs;
    for (int i = 0; i + 3 < list->elements.count; i += 4) {
      Value sig = list->elements.data[i];
      if (!IS_UNDEFINED(wren_map_get(m, sig))) continue;
      /* Collect all triples for this signature. */
      ObjList* triples = wren_new_list(vm, 0);
      wren_push_root(vm, &triples->obj);
      for (int j = i; j + 3 < list->elements.count; j += 4) {
        if (!wren_values_equal(list->elements.data[j], sig)) continue;
        for (int k = 1; k <= 3; k++) {
          wren_list_insert(vm, triples, list->elements.data[j + k], triples->elements.count);
        }
      }
      Value group = build_attr_group(vm, triples, 0, 3);
      wren_push_root(vm, AS_OBJ(group));
      wren_map_set(vm, m, sig, group);
      wren_pop_root(vm);
      wren_pop_root(vm);
    }
  }
  Value cls = wren_find_variable(vm, vm->coreModule, "ClassAttributes");
  Value result = NULL_VAL;
  if (IS_CLASS(cls)) {
    result = wren_new_instance(vm, AS_CLASS(cls));
    if (AS_CLASS(cls)->numFields >= 2) {
      AS_INSTANCE(result)->fields[0] = self;
      AS_INSTANCE(result)->fields[1] = methods;
    }
  }
  if (IS_OBJ(methods)) wren_pop_root(vm);
  if (IS_OBJ(self)) wren_pop_root(vm);
  return result;
}

/* ---- classes ---------------------------------------------------------- */

/* Method signatures follow the reference grammar token by token, so that after an
   error the same tokens are consumed and the same later errors (and no others)
   are reported. */

/* `=(value)` after a name or a subscript: a setter. */
static bool maybe_setter(Compiler* c, Signature* s) {
  if (!match(c, TOKEN_EQ)) return false;
  s->type = s->type == SIG_SUBSCRIPT ? SIG_SUBSCRIPT_SETTER : SIG_SETTER;
  consume(c, TOKEN_LEFT_PAREN, "Expect '(' after '='.");
  declare_named_variable(c);
  consume(c, TOKEN_RIGHT_PAREN, "Expect ')' after parameter name.");
  s->arity++;
  validate_num_parameters(c, s->arity);
  return true;
}

static void parameter_list(Compiler* c, Signature* s) {
  if (!match(c, TOKEN_LEFT_PAREN)) return;
  s->type = SIG_METHOD;
  ignore_newlines(c);
  if (match(c, TOKEN_RIGHT_PAREN)) return;
  finish_parameter_list(c, s);
  ignore_newlines(c);
  consume(c, TOKEN_RIGHT_PAREN, "Expect ')' after parameters.");
}

static void constructor_signature(Compiler* c, Signature* s) {
  consume(c, TOKEN_NAME, "Expect constructor name after 'construct'.");
  *s = signature_from_token(c, SIG_INITIALIZER);
  if (match(c, TOKEN_EQ)) error(c, "A constructor cannot be a setter.");
  if (!match(c, TOKEN_LEFT_PAREN)) {
    error(c, "A constructor cannot be a getter.");
    return;
  }
  ignore_newlines(c);
  if (match(c, TOKEN_RIGHT_PAREN)) return;
  finish_parameter_list(c, s);
  ignore_newlines(c);
  consume(c, TOKEN_RIGHT_PAREN, "Expect ')' after parameters.");
}

/* The signature that starts with the token just consumed (`t`); false when no
   method can start with it. */
static bool method_signature(Compiler* c, Signature* s, TokenType t) {
  switch (t) {
    case TOKEN_CONSTRUCT:
      constructor_signature(c, s);
      return true;
    case TOKEN_NAME:
      *s = signature_from_token(c, SIG_GETTER);
      if (!maybe_setter(c, s)) parameter_list(c, s);
      return true;
    case TOKEN_LEFT_BRACKET:
      s->name = "";
      s->length = 0;
      s->type = SIG_SUBSCRIPT;
      s->arity = 0;
      finish_parameter_list(c, s);
      consume(c, TOKEN_RIGHT_BRACKET, "Expect ']' after parameters.");
      maybe_setter(c, s);
      return true;
    case TOKEN_BANG:
    case TOKEN_TILDE:
      *s = signature_from_token(c, SIG_GETTER);
      return true;
    case TOKEN_MINUS:
      *s = signature_from_token(c, SIG_GETTER);
      if (match(c, TOKEN_LEFT_PAREN)) {
        s->type = SIG_METHOD;
        s->arity = 1;
        declare_named_variable(c);
        consume(c, TOKEN_RIGHT_PAREN, "Expect ')' after parameter name.");
      }
      return true;
    case TOKEN_STAR:
    case TOKEN_SLASH:
    case TOKEN_PERCENT:
    case TOKEN_PLUS:
    case TOKEN_LTLT:
    case TOKEN_GTGT:
    case TOKEN_PIPE:
    case TOKEN_CARET:
    case TOKEN_AMP:
    case TOKEN_LT:
    case TOKEN_GT:
    case TOKEN_LTEQ:
    case TOKEN_GTEQ:
    case TOKEN_EQEQ:
    case TOKEN_BANGEQ:
    case TOKEN_DOTDOT:
    case TOKEN_DOTDOTDOT:
    case TOKEN_IS:
      *s = signature_from_token(c, SIG_GETTER);
      s->type = SIG_METHOD;
      s->arity = 1;
      consume(c, TOKEN_LEFT_PAREN, "Expect '(' after operator name.");
      declare_named_variable(c);
      consume(c, TOKEN_RIGHT_PAREN, "Expect ')' after parameter name.");
      return true;
    default:
      return false;
  }
}

static bool method_defined(IntBuffer* b, int symbol) {
  for (int i = 0; i < b->count; i++) {
    if (b->data[i] == symbol) return true;
  }
  return false;
}

static void define_method(Compiler* c, Variable classVar, bool isStatic, int symbol) {
  load_variable(c, classVar);
  emit_short_arg(c, isStatic ? OP_METHOD_STATIC : OP_METHOD_INSTANCE, symbol);
}

static void create_constructor(Compiler* c, Variable classVar, Signature* s, int initSymbol,
                               bool isForeign) {
  Compiler* cc = new_compiler(c->parser, c, true);
  emit_op(cc, isForeign ? OP_FOREIGN_CONSTRUCT : OP_CONSTRUCT);
  emit_short_arg(cc, (OpCode)(OP_CALL_0 + s->arity), initSymbol);
  emit_op(cc, OP_RETURN);
  cc->fn->arity = s->arity;
  cc->fn->maxSlots = s->arity + 2;
  Signature ns = *s;
  ns.type = SIG_METHOD;
  char name[MAX_METHOD_SIGNATURE + 8];
  int length;
  signature_to_string(&ns, name, &length);
  end_compiler(cc, name, length);
  free_compiler(cc);
  int symbol = signature_symbol(c, &ns);
  define_method(c, classVar, true, symbol);
}

/* One member of a class body; false when no method starts here, which ends the
   class body (as in the reference compiler). */
static bool class_member(Compiler* c, Variable classVar, ClassInfo* ci) {
  WrenVM* vm = c->parser->vm;
  parse_attributes(c);
  ObjList* attrs = c->pendingAttrs;
  if (attrs != NULL) wren_push_root(vm, &attrs->obj);
  c->pendingAttrs = NULL;

  bool isForeign = match(c, TOKEN_FOREIGN);
  bool isStatic = match(c, TOKEN_STATIC);
  ci->inStatic = isStatic;
  TokenType start = peek(c);
  advance(c);

  Compiler* mc = new_compiler(c->parser, c, true);
  mc->enclosingClass = ci;
  Signature s;
  if (!method_signature(mc, &s, start)) {
    error(c, "Expect method definition.");
    vm->compiler = c;
    free_compiler(mc);
    if (attrs != NULL) wren_pop_root(vm);
    return false;
  }
  bool isConstruct = s.type == SIG_INITIALIZER;
  mc->isInitializer = isConstruct;
  if (isStatic && isConstruct) error(c, "A constructor cannot be static.");
  ci->signature = &s;
  mc->fn->arity = s.arity;
  mc->numSlots = mc->numLocals;
  adjust_slots(mc, 0);
  mc->fn->isMethod = true;

  int symbol = signature_symbol(c, &s);
  char fullName[MAX_METHOD_SIGNATURE + 8];
  int fullLength;
  signature_to_string(&s, fullName, &fullLength);

  IntBuffer* defined = isStatic ? &ci->staticMethods : &ci->methods;
  if (method_defined(defined, symbol)) {
    error(c, "Class %s already defines a %smethod '%s'.", ci->name->value, isStatic ? "static " : "",
          fullName);
  } else {
    wren_buffer_write_int(vm, defined, symbol);
  }

  if (attrs != NULL && attrs->elements.count > 0) {
    char key[MAX_METHOD_SIGNATURE + 32];
    snprintf(key, sizeof key, "%s%s%s", isForeign ? "foreign " : "", isStatic ? "static " : "",
             fullName);
    Value keyStr = wren_new_string(vm, key);
    wren_push_root(vm, AS_OBJ(keyStr));
    if (ci->methodAttrs == NULL) ci->methodAttrs = wren_new_list(vm, 0);
    for (int i = 0; i + 2 < attrs->elements.count; i += 3) {
      wren_list_insert(vm, ci->methodAttrs, keyStr, ci->methodAttrs->elements.count);
      for (int k = 0; k < 3; k++) {
        wren_list_insert(vm, ci->methodAttrs, attrs->elements.data[i + k],
                         ci->methodAttrs->elements.count);
      }
    }
    wren_pop_root(vm);
  }
  if (attrs != NULL) wren_pop_root(vm);

  if (isForeign) {
    vm->compiler = c;
    free_compiler(mc);
    emit_constant(c, wren_new_string_length(vm, fullName, (size_t)fullLength));
  } else {
    consume(c, TOKEN_LEFT_BRACE, "Expect '{' to begin method body.");
    finish_body_after_brace(mc);
    end_compiler(mc, fullName, fullLength);
    free_compiler(mc);
  }
  define_method(c, classVar, isStatic, symbol);
  if (isConstruct) create_constructor(c, classVar, &s, symbol, ci->isForeign);
  ci->signature = NULL;
  return true;
}

static void class_definition(Compiler* c, bool isForeign) {
  WrenVM* vm = c->parser->vm;
  ObjList* classAttrs = c->pendingAttrs;
  c->pendingAttrs = NULL;
  if (classAttrs != NULL) wren_push_root(vm, &classAttrs->obj);

  consume(c, TOKEN_NAME, "Expect class name.");
  Token nameToken = c->parser->previous;
  Variable classVar;
  classVar.scope = c->scopeDepth == -1 ? SCOPE_MODULE : SCOPE_LOCAL;
  classVar.index = declare_variable(c, NULL);

  Value className = wren_new_string_length(vm, nameToken.start, (size_t)nameToken.length);
  wren_push_root(vm, AS_OBJ(className));
  emit_constant(c, className);

  if (match(c, TOKEN_IS)) {
    parse_precedence(c, PREC_CALL);
  } else {
    load_core_variable(c, "Object");
  }
  int numFieldsInstruction = -1;
  if (isForeign) {
    emit_op(c, OP_FOREIGN_CLASS);
  } else {
    numFieldsInstruction = emit_byte_arg(c, OP_CLASS, 255);
  }
  if (classVar.scope == SCOPE_MODULE) {
    define_variable(c, classVar.index);
  }
  /* For a local class the class object stays on the stack as the local. */

  push_scope(c);
  ClassInfo ci;
  ci.name = AS_STRING(className);
  ci.isForeign = isForeign;
  ci.inStatic = false;
  ci.signature = NULL;
  ci.classAttrs = classAttrs;
  ci.methodAttrs = NULL;
  wren_symbol_table_init(&ci.fields);
  ci.methods.data = NULL;
  ci.methods.count = ci.methods.capacity = 0;
  ci.staticMethods.data = NULL;
  ci.staticMethods.count = ci.staticMethods.capacity = 0;
  ClassInfo* savedClass = c->enclosingClass;
  c->enclosingClass = &ci;

  consume(c, TOKEN_LEFT_BRACE, "Expect '{' after class declaration.");
  match_line(c);
  while (!match(c, TOKEN_RIGHT_BRACE)) {
    if (!class_member(c, classVar, &ci)) break;
    /* No newline is needed after the last member. */
    if (match(c, TOKEN_RIGHT_BRACE)) break;
    consume_line(c, "Expect newline after definition in class.");
  }

  if (ci.classAttrs != NULL || ci.methodAttrs != NULL) {
    Value attrs = build_class_attributes(c, &ci);
    if (IS_OBJ(attrs)) wren_push_root(vm, AS_OBJ(attrs));
    load_variable(c, classVar);
    emit_constant(c, attrs);
    emit_op(c, OP_END_CLASS);
    if (IS_OBJ(attrs)) wren_pop_root(vm);
  }

  if (numFieldsInstruction != -1) {
    int n = ci.fields.count > 255 ? 255 : ci.fields.count;
    c->fn->code.data[numFieldsInstruction] = (uint8_t)n;
  }
  c->enclosingClass = savedClass;
  wren_symbol_table_free(vm, &ci.fields);
  wren_buffer_free_int(vm, &ci.methods);
  wren_buffer_free_int(vm, &ci.staticMethods);
  pop_scope(c);
  wren_pop_root(vm);
  if (classAttrs != NULL) wren_pop_root(vm);
}

static void import_statement(Compiler* c) {
  WrenVM* vm = c->parser->vm;
  ignore_newlines(c);
  consume(c, TOKEN_STRING, "Expect a string after 'import'.");
  int moduleConstant = add_constant(c, c->parser->previous.value);
  emit_short_arg(c, OP_IMPORT_MODULE, moduleConstant);
  emit_op(c, OP_POP);
  if (!match(c, TOKEN_FOR)) return;
  do {
    ignore_newlines(c);
    consume(c, TOKEN_NAME, "Expect variable name.");
    Token sourceName = c->parser->previous;
    Token varName = sourceName;
    if (match(c, TOKEN_AS)) {
      consume(c, TOKEN_NAME, "Expect variable name.");
      varName = c->parser->previous;
    }
    Value nameValue = wren_new_string_length(vm, sourceName.start, (size_t)sourceName.length);
    wren_push_root(vm, AS_OBJ(nameValue));
    int constant = add_constant(c, nameValue);
    wren_pop_root(vm);
    int slot = declare_variable(c, &varName);
    emit_short_arg(c, OP_IMPORT_VARIABLE, constant);
    define_variable(c, slot);
  } while (match(c, TOKEN_COMMA));
}

static void variable_definition(Compiler* c) {
  consume(c, TOKEN_NAME, "Expect variable name.");
  Token nameToken = c->parser->previous;
  if (match(c, TOKEN_EQ)) {
    ignore_newlines(c);
    expression(c);
  } else {
    emit_op(c, OP_NULL);
  }
  int symbol = declare_variable(c, &nameToken);
  define_variable(c, symbol);
}

static void definition(Compiler* c) {
  bool hadAttributes = false;
  if (peek(c) == TOKEN_HASH) {
    parse_attributes(c);
    hadAttributes = true;
  }
  if (match(c, TOKEN_CLASS)) {
    class_definition(c, false);
    return;
  }
  if (match(c, TOKEN_FOREIGN)) {
    consume(c, TOKEN_CLASS, "Expect 'class' after 'foreign'.");
    class_definition(c, true);
    return;
  }
  c->pendingAttrs = NULL;
  /* Reported at the newline that ends the attributes; the statement after them
     is compiled as usual. */
  if (hadAttributes) error(c, "Attributes can only specified before a class or a method");
  if (match(c, TOKEN_IMPORT)) {
    import_statement(c);
  } else if (match(c, TOKEN_VAR)) {
    variable_definition(c);
  } else {
    statement(c);
  }
}

ObjFn* wren_compile(WrenVM* vm, ObjModule* module, const char* source, bool isExpression,
                    bool printErrors) {
  Parser parser;
  memset(&parser, 0, sizeof parser);
  parser.vm = vm;
  parser.module = module;
  parser.source = source;
  /* Skip a UTF-8 byte order mark. */
  if (strncmp(source, "\xEF\xBB\xBF", 3) == 0) parser.source += 3;
  parser.tokenStart = parser.source;
  parser.currentChar = parser.source;
  parser.currentLine = 1;
  parser.numParens = 0;
  parser.printErrors = printErrors;
  parser.next.type = TOKEN_ERROR;
  parser.next.value = NULL_VAL;
  parser.current.type = TOKEN_ERROR;
  parser.current.value = NULL_VAL;
  parser.previous.type = TOKEN_ERROR;
  parser.previous.value = NULL_VAL;
  parser.next.start = parser.current.start = parser.previous.start = parser.source;

  int numExistingVariables = module->variables.count;
  (void)numExistingVariables;

  Compiler* saved = vm->compiler;
  Compiler* c = (Compiler*)wren_reallocate(vm, NULL, 0, sizeof(Compiler));
  /* The compiler must be reachable from the VM before the first token
     allocates a string. */
  c->fn = NULL;
  c->constants = NULL;
  c->pendingAttrs = NULL;
  c->parent = NULL;
  c->parser = &parser;
  vm->compiler = c;
  init_compiler(c, &parser, NULL, false);
  /* A compile nested inside another (Meta.eval) keeps the outer chain alive. */
  (void)saved;

  lex_next(&parser);
  advance(c);

  if (isExpression) {
    expression(c);
    match_line(c);
    consume(c, TOKEN_EOF, "Expect end of expression.");
    emit_op(c, OP_RETURN);
  } else {
    match_line(c);
    while (!match(c, TOKEN_EOF)) {
      definition(c);
      /* Without a newline, the statement must end the file; after this error the
         reference compiler stops, so no later error is reported. */
      if (!match_line(c)) {
        consume(c, TOKEN_EOF, "Expect end of file.");
        break;
      }
    }
    emit_op(c, OP_END_MODULE);
    emit_op(c, OP_NULL);
    emit_op(c, OP_RETURN);
  }

  for (int i = 0; i < parser.numForwards; i++) {
    parser.previous.type = TOKEN_NAME;
    ObjString* n = module->variableNames.data[parser.forwards[i].symbol];
    parser.previous.start = n->value;
    parser.previous.length = (int)n->length;
    parser.previous.line = parser.forwards[i].line;
    error(c, "Variable is used but not defined.");
  }

  ObjFn* fn = end_compiler(c, "(script)", 8);
  free_compiler(c);
  vm->compiler = saved;
  wren_buffer_free_byte(vm, &parser.strBuf);
  wren_reallocate(vm, parser.forwards, sizeof(ForwardRef) * (size_t)parser.forwardCapacity, 0);
  if (parser.hasError) return NULL;
  return fn;
}

void wren_mark_compiler(WrenVM* vm, Compiler* c) {
  if (c->parser != NULL) {
    wren_gray_value(vm, c->parser->next.value);
    wren_gray_value(vm, c->parser->current.value);
    wren_gray_value(vm, c->parser->previous.value);
    wren_gray_obj(vm, (Obj*)c->parser->module);
  }
  for (; c != NULL; c = c->parent) {
    wren_gray_obj(vm, (Obj*)c->fn);
    wren_gray_obj(vm, (Obj*)c->constants);
    wren_gray_obj(vm, (Obj*)c->pendingAttrs);
    if (c->enclosingClass != NULL) {
      wren_gray_obj(vm, (Obj*)c->enclosingClass->name);
      wren_gray_obj(vm, (Obj*)c->enclosingClass->classAttrs);
      wren_gray_obj(vm, (Obj*)c->enclosingClass->methodAttrs);
      wren_symbol_table_gray(vm, &c->enclosingClass->fields);
    }
  }
}

/* ---- binding methods to classes --------------------------------------- */

int wren_op_size(const uint8_t* code, const Value* constants, int ip) {
  OpCode op = (OpCode)code[ip];
  switch (op) {
    case OP_NULL: case OP_FALSE: case OP_TRUE: case OP_LOAD_LOCAL_0: case OP_LOAD_LOCAL_1:
    case OP_LOAD_LOCAL_2: case OP_LOAD_LOCAL_3: case OP_POP: case OP_CLOSE_UPVALUE:
    case OP_RETURN: case OP_CONSTRUCT: case OP_FOREIGN_CONSTRUCT: case OP_FOREIGN_CLASS:
    case OP_END_CLASS: case OP_END_MODULE: case OP_END:
      return 1;
    case OP_LOAD_LOCAL: case OP_STORE_LOCAL: case OP_LOAD_UPVALUE: case OP_STORE_UPVALUE:
    case OP_LOAD_FIELD_THIS: case OP_STORE_FIELD_THIS: case OP_LOAD_FIELD: case OP_STORE_FIELD:
    case OP_CLASS:
      return 2;
    case OP_CLOSURE: {
      int constant = (code[ip + 1] << 8) | code[ip + 2];
      ObjFn* fn = AS_FN(constants[constant]);
      return 3 + fn->numUpvalues * 2;
    }
    default:
      if (op >= OP_SUPER_0 && op <= OP_SUPER_16) return 5;
      return 3;
  }
}

static void bind_code(ObjClass* classObj, ObjFn* fn, int delta) {
  int ip = 0;
  for (;;) {
    OpCode op = (OpCode)fn->code.data[ip];
    switch (op) {
      case OP_LOAD_FIELD:
      case OP_STORE_FIELD:
      case OP_LOAD_FIELD_THIS:
      case OP_STORE_FIELD_THIS:
        fn->code.data[ip + 1] = (uint8_t)(fn->code.data[ip + 1] + delta);
        break;
      case OP_CLOSURE: {
        int constant = (fn->code.data[ip + 1] << 8) | fn->code.data[ip + 2];
        ObjFn* inner = AS_FN(fn->constants.data[constant]);
        if (!inner->isMethod) bind_code(classObj, inner, delta);
        break;
      }
      case OP_END:
        return;
      default:
        if (op >= OP_SUPER_0 && op <= OP_SUPER_16) {
          int constant = (fn->code.data[ip + 3] << 8) | fn->code.data[ip + 4];
          fn->constants.data[constant] =
              classObj->superclass != NULL ? OBJ_VAL(classObj->superclass) : NULL_VAL;
        }
        break;
    }
    ip += wren_op_size(fn->code.data, fn->constants.data, ip);
  }
}

void wren_bind_method_code(ObjClass* classObj, ObjFn* fn) {
  int base = classObj->superclass != NULL ? classObj->superclass->numFields : 0;
  int delta = base - fn->fieldBase;
  fn->fieldBase = base;
  bind_code(classObj, fn, delta);
}
