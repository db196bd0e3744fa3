// .npy reading and writing: round trips of every dtype and rank 0..4, the exact bytes written,
// hand-written files (format 1.0, 2.0, 3.0, big-endian, Fortran order, header variants), and an
// error naming the file for each way a file can be broken.
#include "tdsl/Diagnostics.h"
#include "tdsl/Tensor.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <unistd.h>

namespace tdsl {
namespace {

namespace fs = std::filesystem;

class Npy : public ::testing::Test {
protected:
  void SetUp() override {
    dir = fs::temp_directory_path() / ("tdsl-npy-test-" + std::to_string(::getpid()) + "-" +
                                       std::to_string(std::random_device()()));
    fs::create_directories(dir);
  }
  void TearDown() override { fs::remove_all(dir); }

  std::string path(const std::string &name) const { return (dir / name).string(); }

  std::string writeFile(const std::string &name, const std::string &bytes) const {
    std::ofstream out(path(name), std::ios::binary);
    out.write(bytes.data(), std::streamsize(bytes.size()));
    return path(name);
  }

  std::string readFile(const std::string &name) const {
    std::ifstream in(path(name), std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  /// The message of the RuntimeError that reading `bytes` as a file throws ("" if none).
  std::string readError(const std::string &bytes) {
    try {
      readNpy(writeFile("bad.npy", bytes));
    } catch (const RuntimeError &e) {
      return e.what();
    }
    return "";
  }

  fs::path dir;
};

/// A .npy file: magic, version, header length (2 or 4 bytes), the header as given and the data.
std::string npyFile(int major, const std::string &header, const std::string &data = "",
                    int minor = 0) {
  std::string out = "\x93NUMPY";
  out += char(major);
  out += char(minor);
  const int lengthBytes = major == 1 ? 2 : 4;
  for (int i = 0; i < lengthBytes; ++i)
    out += char((header.size() >> (8 * i)) & 0xff);
  return out + header + data;
}

template <typename T> std::string bytesOf(std::initializer_list<T> values) {
  std::string out;
  for (T v : values)
    out.append(reinterpret_cast<const char *>(&v), sizeof v);
  return out;
}

std::string byteSwapped(std::string bytes, int width) {
  for (size_t i = 0; i < bytes.size(); i += width)
    std::reverse(bytes.begin() + i, bytes.begin() + i + width);
  return bytes;
}

bool sameBytes(const Tensor &a, const Tensor &b) {
  return a.nbytes() == b.nbytes() && std::memcmp(a.data(), b.data(), a.nbytes()) == 0;
}

TEST_F(Npy, EveryDtypeAndRankRoundTrips) {
  const std::vector<std::vector<int64_t>> shapes = {{},           {5}, {3, 4},   {2, 3, 4},
                                                    {2, 1, 3, 2}, {0}, {3, 0, 2}};
  for (DType t : {DType::F16, DType::F32, DType::F64, DType::I32, DType::I64, DType::Bool,
                  DType::U8, DType::I8, DType::I16}) {
    for (const auto &shape : shapes) {
      Tensor x = Tensor::randn(shape, t, 17);
      writeNpy(path("x.npy"), x);
      Tensor y = readNpy(path("x.npy"));
      EXPECT_EQ(y.typeString(), x.typeString());
      EXPECT_TRUE(sameBytes(x, y)) << x.typeString();
    }
  }
}

TEST_F(Npy, Bf16IsWrittenAsF32) {
  for (const std::vector<int64_t> &shape : {std::vector<int64_t>{}, {7, 5000}}) {
    Tensor x = Tensor::randn(shape, DType::BF16, 3);
    x.set(0, NAN);
    writeNpy(path("b.npy"), x);
    EXPECT_NE(readFile("b.npy").find("'descr': '<f4'"), std::string::npos);
    Tensor y = readNpy(path("b.npy"));
    ASSERT_EQ(y.dtype(), DType::F32);
    ASSERT_EQ(y.shape(), x.shape());
    EXPECT_TRUE(std::isnan(y.at(0)));
    for (int64_t i = 1; i < x.numel(); ++i)
      ASSERT_EQ(floatToBFloat16(y.data<float>()[i]), x.data<uint16_t>()[i]); // Exact both ways.
  }
}

TEST_F(Npy, WritesTheHeaderNumpyWrites) {
  writeNpy(path("h.npy"), Tensor::zeros({3, 4}, DType::F32));
  const std::string bytes = readFile("h.npy");
  const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }";
  ASSERT_EQ(bytes.size(), 128u + 48u); // Header padded to 64 bytes, then 12 floats.
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  EXPECT_EQ(uint8_t(bytes[8]) | uint8_t(bytes[9]) << 8, 118);
  EXPECT_EQ(bytes.substr(10, dict.size()), dict);
  EXPECT_EQ(bytes.substr(10 + dict.size(), 127 - 10 - dict.size()),
            std::string(127 - 10 - dict.size(), ' '));
  EXPECT_EQ(bytes[127], '\n');

  writeNpy(path("s.npy"), Tensor::scalar(1, DType::Bool));
  EXPECT_NE(readFile("s.npy").find("{'descr': '|b1', 'fortran_order': False, 'shape': (), }"),
            std::string::npos);
  writeNpy(path("v.npy"), Tensor::zeros({5}, DType::I64));
  EXPECT_NE(readFile("v.npy").find("'descr': '<i8', 'fortran_order': False, 'shape': (5,), }"),
            std::string::npos);
  EXPECT_EQ(readFile("v.npy").size(), 128u + 40u);
  // The small integers as NumPy names them: uint8, int8 and int16.
  writeNpy(path("u.npy"), Tensor::zeros({2}, DType::U8));
  EXPECT_NE(readFile("u.npy").find("'descr': '|u1'"), std::string::npos);
  writeNpy(path("i1.npy"), Tensor::zeros({2}, DType::I8));
  EXPECT_NE(readFile("i1.npy").find("'descr': '|i1'"), std::string::npos);
  writeNpy(path("i2.npy"), Tensor::zeros({2}, DType::I16));
  EXPECT_NE(readFile("i2.npy").find("'descr': '<i2'"), std::string::npos);
}

TEST_F(Npy, HugeHeadersUseFormat2) {
  std::vector<int64_t> shape(30000, 1); // "1, " per dimension: over 65535 header bytes.
  Tensor x = Tensor::zeros(shape, DType::F64);
  x.set(0, 2.5);
  writeNpy(path("big.npy"), x);
  const std::string bytes = readFile("big.npy");
  EXPECT_EQ(bytes[6], 2);
  EXPECT_EQ((bytes.size() - 8) % 64, 0u);
  Tensor y = readNpy(path("big.npy"));
  EXPECT_EQ(y.rank(), 30000);
  EXPECT_EQ(y.at(0), 2.5);
}

TEST_F(Npy, OverwritesAtomicallyAndLeavesNoTemporaryFiles) {
  writeNpy(path("o.npy"), Tensor::scalar(1, DType::F32));
  writeNpy(path("o.npy"), Tensor::scalar(2, DType::F32));
  EXPECT_EQ(readNpy(path("o.npy")).at(0), 2.0);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);
}

TEST_F(Npy, ReadsFormat2And3Headers) {
  const std::string data = bytesOf<float>({1.5f, -2.0f});
  Tensor v2 = readNpy(writeFile(
      "v2.npy", npyFile(2, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n", data)));
  EXPECT_EQ(v2.typeString(), "f32[2]");
  EXPECT_EQ(v2.at(1), -2.0);
  // Format 3.0 has a UTF-8 header; the layout is that of 2.0.
  Tensor v3 = readNpy(writeFile(
      "v3.npy",
      npyFile(3, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }  \n", data)));
  EXPECT_EQ(v3.typeString(), "f32[1, 2]");
  EXPECT_EQ(v3.at(0), 1.5);
}

TEST_F(Npy, AcceptsHeaderVariants) {
  const std::string four = bytesOf<int32_t>({1, 2, 3, 4});
  for (const std::string header : {
           "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 2)}", // No trailing comma.
           "{\"shape\": (2, 2), \"descr\": \"<i4\", \"fortran_order\": False}", // Quotes, order.
           "{ 'descr' : '<i4' ,\n'fortran_order':False,'shape':( 2 ,2 , ) , }\n",
           "{'descr': '<i4', 'fortran_order': False, 'shape': (2L, 2L), }", // Python 2.
       }) {
    Tensor x = readNpy(writeFile("v.npy", npyFile(1, header, four)));
    EXPECT_EQ(x.typeString(), "i32[2, 2]") << header;
    EXPECT_EQ(x.atInt(3), 4) << header;
  }
  Tensor b = readNpy(
      writeFile("b.npy", npyFile(1, "{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }",
                                 std::string("\x00\x02\x01", 3))));
  EXPECT_EQ(b.data<uint8_t>()[1], 1); // Any nonzero byte reads as true, stored as 1.
  Tensor native = readNpy(
      writeFile("n.npy", npyFile(1, "{'descr': 'f8', 'fortran_order': False, 'shape': (), }",
                                 bytesOf<double>({0.25}))));
  EXPECT_EQ(native.typeString(), "f64");
  EXPECT_EQ(native.at(0), 0.25);
}

TEST_F(Npy, SwapsBigEndianData) {
  auto read = [&](const std::string &descr, const std::string &data, const char *shape) {
    return readNpy(writeFile(
        "be.npy",
        npyFile(1, "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }",
                data)));
  };
  Tensor f4 = read(">f4", byteSwapped(bytesOf<float>({1.5f, -3.25f, 1e30f}), 4), "(3,)");
  EXPECT_EQ(f4.at(0), 1.5);
  EXPECT_EQ(f4.at(1), -3.25);
  EXPECT_EQ(f4.at(2), double(1e30f));
  Tensor f8 = read(">f8", byteSwapped(bytesOf<double>({0.1, -7}), 8), "(2,)");
  EXPECT_EQ(f8.at(0), 0.1);
  EXPECT_EQ(f8.at(1), -7.0);
  Tensor i8 = read(">i8", byteSwapped(bytesOf<int64_t>({-2, int64_t(1) << 40}), 8), "(1, 2)");
  EXPECT_EQ(i8.atInt(0), -2);
  EXPECT_EQ(i8.atInt(1), int64_t(1) << 40);
  Tensor i4 = read(">i4", byteSwapped(bytesOf<int32_t>({-5}), 4), "()");
  EXPECT_EQ(i4.atInt(0), -5);
  Tensor i2 = read(">i2", byteSwapped(bytesOf<int16_t>({-300, 7}), 2), "(2,)");
  EXPECT_EQ(i2.dtype(), DType::I16);
  EXPECT_EQ(i2.atInt(0), -300);
  EXPECT_EQ(i2.atInt(1), 7);
  Tensor u1 = read("|u1", bytesOf<uint8_t>({250, 3}), "(2,)");
  EXPECT_EQ(u1.dtype(), DType::U8);
  EXPECT_EQ(u1.atInt(0), 250);
  Tensor i1 = read("|i1", bytesOf<int8_t>({-128, 127}), "(2,)");
  EXPECT_EQ(i1.dtype(), DType::I8);
  EXPECT_EQ(i1.atInt(0), -128);
  EXPECT_EQ(i1.at(1), 127.0);
  Tensor f2 = read(">f2", byteSwapped(bytesOf<uint16_t>({0x3c00, 0xc100}), 2), "(2,)");
  EXPECT_EQ(f2.dtype(), DType::F16);
  EXPECT_EQ(f2.at(0), 1.0);
  EXPECT_EQ(f2.at(1), -2.5);
}

TEST_F(Npy, TransposesFortranOrder) {
  // [[1, 2, 3], [4, 5, 6]] in column-major order.
  Tensor m = readNpy(
      writeFile("f.npy", npyFile(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
                                 bytesOf<float>({1, 4, 2, 5, 3, 6}))));
  for (int64_t i = 0; i < 6; ++i)
    EXPECT_EQ(m.at(i), double(i + 1));
  // Rank 3, big-endian as well: element (i, j, k) = 100i + 10j + k at i + 2j + 6k.
  std::string data(2 * 3 * 4 * 8, '\0');
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k) {
        const std::string value = byteSwapped(bytesOf<int64_t>({100 * i + 10 * j + k}), 8);
        data.replace(size_t(i + 2 * j + 6 * k) * 8, 8, value);
      }
  Tensor t = readNpy(writeFile(
      "f3.npy", npyFile(1, "{'descr': '>i8', 'fortran_order': True, 'shape': (2, 3, 4), }", data)));
  int64_t flat = 0;
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k)
        EXPECT_EQ(t.atInt(flat++), 100 * i + 10 * j + k);
  // Rank 0 and 1 are the same in either order.
  Tensor v = readNpy(
      writeFile("f1.npy", npyFile(1, "{'descr': '<i4', 'fortran_order': True, 'shape': (3,), }",
                                  bytesOf<int32_t>({7, 8, 9}))));
  EXPECT_EQ(v.atInt(2), 9);
}

const char kGoodHeader[] = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";

TEST_F(Npy, ErrorsNameTheFileAndTheProblem) {
  const std::string bad = path("bad.npy");
  const std::string eight = bytesOf<float>({1, 2});
  EXPECT_EQ(readError(""), "cannot read '" + bad +
                               "': not a .npy file (it does not start with the magic string "
                               "\"\\x93NUMPY\")");
  EXPECT_EQ(readError("PK\x03\x04 a zip file, not npy"), readError(""));
  EXPECT_EQ(readError("\x93NUMP"), readError(""));
  EXPECT_EQ(readError(npyFile(4, kGoodHeader, eight)),
            "cannot read '" + bad +
                "': unsupported .npy format version 4.0 (tdsl reads 1.0, "
                "2.0 and 3.0)");
  EXPECT_NE(readError(npyFile(1, kGoodHeader, eight, 1)).find("version 1.1"), std::string::npos);
  EXPECT_EQ(readError(std::string("\x93NUMPY\x01\x00\x10", 9)),
            "cannot read '" + bad + "': truncated header: the file ends inside the header length");
  EXPECT_EQ(readError(npyFile(1, kGoodHeader).substr(0, 40)),
            "cannot read '" + bad +
                "': truncated header: it should be 57 bytes but the file "
                "ends after 30");
  EXPECT_EQ(readError(npyFile(1, kGoodHeader, eight.substr(0, 5))),
            "cannot read '" + bad +
                "': truncated data: shape (2,) of '<f4' needs 8 bytes but "
                "the file has 5");
  EXPECT_EQ(readError(npyFile(1, kGoodHeader, eight + "xyz")),
            "cannot read '" + bad + "': 3 unexpected bytes after the 8 bytes of data");
  EXPECT_EQ(
      readError(npyFile(1, "{'descr': '<u2', 'fortran_order': False, 'shape': (4,), }", eight)),
      "cannot read '" + bad +
          "': unsupported dtype '<u2' (tdsl reads f2, f4, f8, u1, i1, i2, i4, i8 "
          "and b1, little- or big-endian)");
  try {
    readNpy(path("missing.npy"));
    ADD_FAILURE() << "no error for a missing file";
  } catch (const RuntimeError &e) {
    EXPECT_EQ(std::string(e.what()),
              "cannot read '" + path("missing.npy") + "': No such file or directory");
  }
}

TEST_F(Npy, ReadingADirectoryIsAnError) { EXPECT_THROW(readNpy(dir.string()), RuntimeError); }

TEST_F(Npy, BadHeadersAreErrors) {
  const std::string eight = bytesOf<float>({1, 2});
  const std::pair<std::string, std::string> cases[] = {
      {"'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", "expected '{'"},
      {"{'descr': '<f4', 'fortran_order': False}", "the header has no 'shape' key"},
      {"{'fortran_order': False, 'shape': (2,)}", "the header has no 'descr' key"},
      {"{'descr': '<f4', 'shape': (2,)}", "the header has no 'fortran_order' key"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1}",
       "unexpected key 'extra' in the header"},
      {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}",
       "key 'descr' appears twice"},
      {"{'descr': '<f4', 'fortran_order': maybe, 'shape': (2,)}",
       "'fortran_order' must be True or False"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2)}",
       "a one-element tuple needs a trailing comma"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': [2]}", "expected '('"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (-2,)}",
       "'shape' must be a tuple of non-negative integers"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2.0,)}", "expected ',' or ')'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,", "unterminated 'shape'"},
      {"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,)}",
       "structured dtypes (a list 'descr') are not supported"},
      {"{'descr': '<f4, 'fortran_order': False, 'shape': (2,)}", "expected ',' or '}'"},
      {"{'descr': '<f4", "unterminated string"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} junk", "unexpected text after"},
      {"{'descr': '<f4' 'fortran_order': False, 'shape': (2,)}", "expected ',' or '}'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}",
       "a dimension in 'shape' is too large"},
      {"{'descr': '<f\\x34', 'fortran_order': False, 'shape': (2,)}", "escapes in strings"},
      {"", "expected '{'"},
  };
  for (const auto &[header, problem] : cases) {
    const std::string message = readError(npyFile(1, header, eight));
    EXPECT_EQ(message.rfind("cannot read '" + path("bad.npy") + "': bad header: ", 0), 0u)
        << message;
    EXPECT_NE(message.find(problem), std::string::npos) << header << "\n" << message;
  }
}

TEST_F(Npy, ShapesTooLargeForTheFileAreErrorsBeforeAllocating) {
  EXPECT_NE(readError(npyFile(1, "{'descr': '<f8', 'fortran_order': False, 'shape': "
                                 "(9223372036854775807, 9223372036854775807), }"))
                .find("bad header: the shape (9223372036854775807, 9223372036854775807) is too "
                      "large"),
            std::string::npos);
  // A plausible but huge shape with a small file is truncated data, not an allocation.
  EXPECT_NE(readError(npyFile(1,
                              "{'descr': '<f4', 'fortran_order': False, 'shape': "
                              "(1000000000, 1000000), }",
                              "abcd"))
                .find("truncated data"),
            std::string::npos);
}

TEST_F(Npy, WriteFailuresThrowAndCleanUp) {
  const std::string missingDir = path("no/such/dir/x.npy");
  try {
    writeNpy(missingDir, Tensor::zeros({2}, DType::F32));
    ADD_FAILURE() << "no error";
  } catch (const RuntimeError &e) {
    EXPECT_EQ(std::string(e.what()).rfind("cannot write '" + missingDir + "': No such file", 0), 0u)
        << e.what();
  }
  // The target is a directory: the rename fails and the temporary file is removed.
  fs::create_directory(path("taken"));
  EXPECT_THROW(writeNpy(path("taken"), Tensor::zeros({2}, DType::F32)), RuntimeError);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);
  try {
    writeNpy(path("u.npy"), Tensor());
    ADD_FAILURE() << "no error";
  } catch (const RuntimeError &e) {
    EXPECT_EQ(std::string(e.what()),
              "cannot write '" + path("u.npy") + "': the tensor f32 has no data");
  }
  EXPECT_FALSE(fs::exists(path("u.npy")));
}

TEST_F(Npy, WritesViews) {
  int32_t buffer[3] = {4, -5, 6};
  writeNpy(path("view.npy"), Tensor::view(buffer, {3}, DType::I32));
  Tensor y = readNpy(path("view.npy"));
  EXPECT_EQ(y.atInt(1), -5);
  EXPECT_TRUE(y.ownsData());
}

} // namespace
} // namespace tdsl
