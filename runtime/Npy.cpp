// NumPy .npy reading and writing (format versions 1.0, 2.0 and 3.0).
//
// The format: the magic "\x93NUMPY", a major and a minor version byte, the header length (2
// bytes little-endian in 1.0, 4 bytes in 2.0 and 3.0), then the header, a Python dict literal
// such as {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), } padded with spaces and a
// newline, then the raw elements.
//
// Reading accepts little- and big-endian data (swapped to the host's order), C and Fortran order
// (a Fortran array is transposed into C order), and the dtypes f2 f4 f8 u1 i1 i2 i4 i8 b1. The
// tensor returned has the file's dtype: converting to a kernel parameter's dtype is the caller's
// job.
//
// bf16: NumPy has no bfloat16 (ml_dtypes' bfloat16 saves as an opaque '<V2' that no plain NumPy
// can read back as numbers), so a bf16 tensor is written as '<f4'. Widening bf16 to f32 is exact
// and f32 -> bf16 of such a value is exact again, so writing then converting back loses nothing,
// and the file opens in any NumPy. readNpy therefore never returns a bf16 tensor.
//
// Writing goes to a temporary file in the same folder, renamed into place once complete, so a
// reader never sees half a file.
#include "tdsl/Diagnostics.h"
#include "tdsl/Tensor.h"

#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <random>
#include <unistd.h>
#include <vector>

namespace tdsl {

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;
constexpr bool kHostLittleEndian = std::endian::native == std::endian::little;

[[noreturn]] void fail(const std::string &path, const std::string &problem) {
  throw RuntimeError(ErrorCode::MalformedNpy, "cannot read '" + path + "': " + problem);
}

/// The parsed header dict.
struct NpyHeader {
  std::string descr;
  bool fortranOrder = false;
  std::vector<int64_t> shape;
};

/// A recursive-descent parser for the header's Python literal; only the forms NumPy writes
/// (and Python 2's `3L` integers) are accepted.
class HeaderParser {
public:
  HeaderParser(std::string_view text, const std::string &path) : text(text), path(path) {}

  // header := '{' (key ':' value ',')* [key ':' value] '}' whitespace*
  NpyHeader parse() {
    NpyHeader header;
    bool seenDescr = false, seenOrder = false, seenShape = false;
    expect('{');
    skipSpace();
    while (peek() != '}') {
      std::string key = parseString();
      expect(':');
      if (key == "descr") {
        duplicate(seenDescr, key);
        skipSpace();
        if (peek() == '[')
          error("structured dtypes (a list 'descr') are not supported");
        header.descr = parseString();
      } else if (key == "fortran_order") {
        duplicate(seenOrder, key);
        header.fortranOrder = parseBool();
      } else if (key == "shape") {
        duplicate(seenShape, key);
        header.shape = parseShape();
      } else {
        error("unexpected key '" + key + "' in the header");
      }
      skipSpace();
      if (peek() == ',') {
        ++pos;
        skipSpace();
      } else if (peek() != '}') {
        error("expected ',' or '}' in the header");
      }
    }
    ++pos;
    skipSpace();
    if (pos != text.size())
      error("unexpected text after the header dict");
    if (!seenDescr || !seenOrder || !seenShape)
      error(std::string("the header has no '") +
            (!seenDescr   ? "descr"
             : !seenOrder ? "fortran_order"
                          : "shape") +
            "' key");
    return header;
  }

private:
  std::string_view text;
  const std::string &path;
  size_t pos = 0;

  [[noreturn]] void error(const std::string &what) {
    fail(path, "bad header: " + what + " (header: " + printable() + ")");
  }

  std::string printable() const {
    std::string out;
    for (char c : text.substr(0, 200))
      out += (static_cast<unsigned char>(c) >= 0x20 && c != 0x7f) ? c : ' ';
    while (!out.empty() && out.back() == ' ')
      out.pop_back();
    return out;
  }

  void duplicate(bool &seen, const std::string &key) {
    if (seen)
      error("key '" + key + "' appears twice");
    seen = true;
  }

  char peek() const { return pos < text.size() ? text[pos] : '\0'; }

  void skipSpace() {
    while (pos < text.size() &&
           (text[pos] == ' ' || text[pos] == '\n' || text[pos] == '\t' || text[pos] == '\r'))
      ++pos;
  }

  void expect(char c) {
    skipSpace();
    if (peek() != c)
      error(std::string("expected '") + c + "'");
    ++pos;
  }

  std::string parseString() {
    skipSpace();
    char quote = peek();
    if (quote != '\'' && quote != '"')
      error("expected a quoted string");
    size_t end = text.find(quote, pos + 1);
    if (end == std::string_view::npos)
      error("unterminated string");
    std::string value(text.substr(pos + 1, end - pos - 1));
    if (value.find('\\') != std::string::npos)
      error("escapes in strings are not supported");
    pos = end + 1;
    return value;
  }

  bool parseBool() {
    skipSpace();
    if (text.substr(pos, 4) == "True") {
      pos += 4;
      return true;
    }
    if (text.substr(pos, 5) == "False") {
      pos += 5;
      return false;
    }
    error("'fortran_order' must be True or False");
  }

  int64_t parseDim() {
    skipSpace();
    if (peek() < '0' || peek() > '9')
      error("'shape' must be a tuple of non-negative integers");
    int64_t value = 0;
    while (peek() >= '0' && peek() <= '9') {
      int digit = text[pos++] - '0';
      if (value > (std::numeric_limits<int64_t>::max() - digit) / 10)
        error("a dimension in 'shape' is too large");
      value = value * 10 + digit;
    }
    if (peek() == 'L') // Python 2 long integers in old files.
      ++pos;
    return value;
  }

  // shape := '(' ')' | '(' dim ',' (dim ',')* [dim] ')'
  std::vector<int64_t> parseShape() {
    expect('(');
    std::vector<int64_t> shape;
    skipSpace();
    while (peek() != ')') {
      if (pos >= text.size())
        error("unterminated 'shape' tuple");
      shape.push_back(parseDim());
      skipSpace();
      if (peek() == ',') {
        ++pos;
        skipSpace();
      } else if (peek() != ')') {
        error("expected ',' or ')' in 'shape'");
      } else if (shape.size() == 1) {
        error("'shape' must be a tuple: a one-element tuple needs a trailing comma");
      }
    }
    ++pos;
    return shape;
  }
};

struct NpyType {
  DType dtype;
  bool swapBytes;
};

std::optional<NpyType> parseDescr(const std::string &descr) {
  std::string_view body = descr;
  char order = '=';
  if (!body.empty() && std::strchr("<>|=", body[0])) {
    order = body[0];
    body.remove_prefix(1);
  }
  std::optional<DType> dtype;
  if (body == "f2")
    dtype = DType::F16;
  else if (body == "f4")
    dtype = DType::F32;
  else if (body == "f8")
    dtype = DType::F64;
  else if (body == "i4")
    dtype = DType::I32;
  else if (body == "i8")
    dtype = DType::I64;
  else if (body == "i2")
    dtype = DType::I16;
  else if (body == "i1")
    dtype = DType::I8;
  else if (body == "u1")
    dtype = DType::U8;
  else if (body == "b1" || body == "?")
    dtype = DType::Bool;
  if (!dtype)
    return std::nullopt;
  bool little = order == '<' || ((order == '=' || order == '|') && kHostLittleEndian);
  return NpyType{*dtype, byteSize(*dtype) > 1 && little != kHostLittleEndian};
}

void swapElementBytes(char *data, size_t count, int width) {
  for (size_t i = 0; i < count; ++i) {
    char *element = data + i * width;
    for (int a = 0, b = width - 1; a < b; ++a, --b)
      std::swap(element[a], element[b]);
  }
}

/// Copies a Fortran-order array into C order: element (i0, ..., in-1) lives at
/// i0 + d0 * (i1 + d1 * (...)) in the source.
void fortranToC(const char *source, char *dest, const std::vector<int64_t> &shape, int width,
                int64_t count) {
  const size_t rank = shape.size();
  std::vector<int64_t> fortranStride(rank), index(rank, 0);
  int64_t stride = 1;
  for (size_t k = 0; k < rank; ++k) {
    fortranStride[k] = stride;
    stride *= shape[k];
  }
  int64_t offset = 0;
  for (int64_t flat = 0; flat < count; ++flat) {
    std::memcpy(dest + flat * width, source + offset * width, width);
    // Advance the C-order odometer (last index fastest) and the source offset with it.
    for (size_t k = rank; k-- > 0;) {
      offset += fortranStride[k];
      if (++index[k] < shape[k])
        break;
      offset -= fortranStride[k] * shape[k];
      index[k] = 0;
    }
  }
}

/// The bytes of `shape` with elements of `width` bytes; nullopt when that overflows 63 bits.
std::optional<uint64_t> byteCount(const std::vector<int64_t> &shape, int width) {
  for (int64_t d : shape)
    if (d == 0)
      return 0;
  uint64_t bytes = uint64_t(width);
  for (int64_t d : shape) {
    if (bytes > uint64_t(std::numeric_limits<int64_t>::max()) / uint64_t(d))
      return std::nullopt;
    bytes *= uint64_t(d);
  }
  return bytes;
}

/// "(3, 4)", "(5,)" or "()" as in the header.
std::string shapeText(const std::vector<int64_t> &shape) {
  std::string out = "(";
  for (size_t i = 0; i < shape.size(); ++i)
    out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + (shape.size() == 1 ? ",)" : ")");
}

uint64_t readLittleEndian(const unsigned char *bytes, int count) {
  uint64_t value = 0;
  for (int i = count - 1; i >= 0; --i)
    value = value << 8 | bytes[i];
  return value;
}

} // namespace

Tensor readNpy(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    fail(path, std::strerror(errno));
  std::error_code ec;
  const uintmax_t fileSize = std::filesystem::file_size(path, ec);
  if (ec)
    fail(path, ec.message());

  unsigned char preamble[12];
  in.read(reinterpret_cast<char *>(preamble), 8);
  if (in.gcount() < 8 || std::memcmp(preamble, kMagic, kMagicSize) != 0)
    fail(path, "not a .npy file (it does not start with the magic string \"\\x93NUMPY\")");
  const int major = preamble[6], minor = preamble[7];
  if ((major != 1 && major != 2 && major != 3) || minor != 0)
    fail(path, "unsupported .npy format version " + std::to_string(major) + "." +
                   std::to_string(minor) + " (tdsl reads 1.0, 2.0 and 3.0)");
  const int lengthBytes = major == 1 ? 2 : 4;
  in.read(reinterpret_cast<char *>(preamble + 8), lengthBytes);
  if (in.gcount() < lengthBytes)
    fail(path, "truncated header: the file ends inside the header length");
  const uint64_t headerLength = readLittleEndian(preamble + 8, lengthBytes);
  const uint64_t dataStart = 8 + lengthBytes + headerLength;
  if (dataStart > fileSize)
    fail(path, "truncated header: it should be " + std::to_string(headerLength) +
                   " bytes but the file ends after " + std::to_string(fileSize - 8 - lengthBytes));
  std::string headerText(headerLength, '\0');
  in.read(headerText.data(), std::streamsize(headerLength));
  if (uint64_t(in.gcount()) != headerLength)
    fail(path, "truncated header");

  NpyHeader header = HeaderParser(headerText, path).parse();
  std::optional<NpyType> type = parseDescr(header.descr);
  if (!type)
    fail(path, "unsupported dtype '" + header.descr +
                   "' (tdsl reads f2, f4, f8, u1, i1, i2, i4, i8 and b1, little- or big-endian)");

  // Check the size against the file before allocating, so that a corrupt shape cannot ask for
  // terabytes.
  const int width = byteSize(type->dtype);
  const uint64_t remaining = fileSize - dataStart;
  std::optional<uint64_t> dataBytes = byteCount(header.shape, width);
  if (!dataBytes)
    fail(path, "bad header: the shape " + shapeText(header.shape) + " is too large");
  if (remaining < *dataBytes)
    fail(path, "truncated data: shape " + shapeText(header.shape) + " of '" + header.descr +
                   "' needs " + std::to_string(*dataBytes) + " bytes but the file has " +
                   std::to_string(remaining));
  if (remaining > *dataBytes)
    fail(path, std::to_string(remaining - *dataBytes) + " unexpected bytes after the " +
                   std::to_string(*dataBytes) + " bytes of data");
  Tensor tensor;
  try {
    tensor = Tensor::zeros(header.shape, type->dtype);
  } catch (const RuntimeError &error) {
    fail(path, error.what());
  }

  const size_t bytes = tensor.nbytes();
  std::vector<char> fortranData;
  char *target = header.fortranOrder && tensor.rank() > 1
                     ? (fortranData.resize(bytes), fortranData.data())
                     : static_cast<char *>(tensor.data());
  in.read(target, std::streamsize(bytes));
  if (size_t(in.gcount()) != bytes)
    fail(path, "truncated data (the file shrank while being read)");
  if (type->swapBytes)
    swapElementBytes(target, size_t(tensor.numel()), width);
  if (target != tensor.data())
    fortranToC(target, static_cast<char *>(tensor.data()), tensor.shape(), width, tensor.numel());
  if (type->dtype == DType::Bool) {
    // The language's bools are bytes 0 or 1.
    auto *flags = static_cast<unsigned char *>(tensor.data());
    for (size_t i = 0; i < bytes; ++i)
      flags[i] = flags[i] != 0;
  }
  return tensor;
}

namespace {

/// The dtype string written for `dtype` (bf16 is written as f32, see the top of the file).
std::string writtenDescr(DType dtype) {
  const char order = kHostLittleEndian ? '<' : '>';
  switch (dtype) {
  case DType::F16:
    return std::string(1, order) + "f2";
  case DType::BF16:
  case DType::F32:
    return std::string(1, order) + "f4";
  case DType::F64:
    return std::string(1, order) + "f8";
  case DType::I32:
    return std::string(1, order) + "i4";
  case DType::I64:
    return std::string(1, order) + "i8";
  case DType::I16:
    return std::string(1, order) + "i2";
  case DType::I8:
    return "|i1";
  case DType::U8:
    return "|u1";
  case DType::Bool:
    return "|b1";
  }
  return "";
}

/// The preamble and header, padded with spaces and a newline to a multiple of 64 bytes so that
/// the data is aligned (as NumPy does). Version 2.0 only when the header outgrows 65535 bytes.
std::string npyHeader(const Tensor &tensor) {
  std::string dict = "{'descr': '" + writtenDescr(tensor.dtype()) +
                     "', 'fortran_order': False, 'shape': " + shapeText(tensor.shape()) + ", }";
  int lengthBytes = 2;
  auto padded = [&] {
    size_t total = 8 + lengthBytes + dict.size() + 1;
    return dict.size() + 1 + (64 - total % 64) % 64;
  };
  if (padded() > 65535)
    lengthBytes = 4;
  const size_t headerLength = padded();
  std::string out(kMagic, kMagicSize);
  out += char(lengthBytes == 2 ? 1 : 2);
  out += char(0);
  for (int i = 0; i < lengthBytes; ++i)
    out += char((headerLength >> (8 * i)) & 0xff);
  out += dict;
  out.append(headerLength - dict.size() - 1, ' ');
  out += '\n';
  return out;
}

std::string temporaryPath(const std::string &path) {
  std::random_device device;
  uint64_t bits = (uint64_t(device()) << 32) ^ device();
  char suffix[17];
  std::snprintf(suffix, sizeof suffix, "%016llx", static_cast<unsigned long long>(bits));
  return path + ".tmp." + std::to_string(::getpid()) + "." + suffix;
}

/// Writes the whole file to `file`; false with errno set on failure.
bool writeContents(std::FILE *file, const Tensor &tensor) {
  std::string header = npyHeader(tensor);
  if (std::fwrite(header.data(), 1, header.size(), file) != header.size())
    return false;
  if (tensor.dtype() != DType::BF16) {
    const size_t bytes = tensor.nbytes();
    return bytes == 0 || std::fwrite(tensor.data(), 1, bytes, file) == bytes;
  }
  // bf16 -> f32, exactly, a chunk at a time.
  const auto *source = tensor.data<const uint16_t>();
  float chunk[4096];
  for (int64_t start = 0, n = tensor.numel(); start < n; start += 4096) {
    const size_t count = size_t(std::min<int64_t>(4096, n - start));
    for (size_t i = 0; i < count; ++i)
      chunk[i] = bfloat16ToFloat(source[start + int64_t(i)]);
    if (std::fwrite(chunk, sizeof(float), count, file) != count)
      return false;
  }
  return true;
}

} // namespace

void writeNpy(const std::string &path, const Tensor &strided) {
  const Tensor tensor = strided.contiguous(); // The file holds the elements in row-major order.
  auto failWrite = [&](const std::string &problem) {
    throw RuntimeError(ErrorCode::CannotWriteNpy, "cannot write '" + path + "': " + problem);
  };
  if (!tensor.defined())
    failWrite("the tensor " + tensor.typeString() + " has no data");
  const std::string temporary = temporaryPath(path);
  // "x": fail rather than overwrite if the temporary name exists.
  std::FILE *file = std::fopen(temporary.c_str(), "wbx");
  if (!file)
    failWrite(std::string(std::strerror(errno)) + " (creating '" + temporary + "')");
  bool ok = writeContents(file, tensor) && std::fflush(file) == 0;
  int error = ok ? 0 : errno;
  if (std::fclose(file) != 0 && ok) {
    ok = false;
    error = errno;
  }
  std::error_code ec;
  if (ok) {
    std::filesystem::rename(temporary, path, ec);
    if (!ec)
      return;
  }
  std::error_code ignored;
  std::filesystem::remove(temporary, ignored); // Best effort: report the first error.
  failWrite(ok ? ec.message() : std::strerror(error));
}

} // namespace tdsl
