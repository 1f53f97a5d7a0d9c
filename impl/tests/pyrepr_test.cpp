// py_repr: Python's repr() of strings, floats, ints and bools (checked against CPython).
#include <gtest/gtest.h>

#include "loopcheck/pyrepr.hpp"

using namespace loopcheck;

TEST(PyRepr, Strings) {
  EXPECT_EQ(py_repr("abc"), "'abc'");
  EXPECT_EQ(py_repr(""), "''");
  EXPECT_EQ(py_repr("it's"), "\"it's\"");
  EXPECT_EQ(py_repr("it's \"q\""), "'it\\'s \"q\"'");
  EXPECT_EQ(py_repr("a\\b"), "'a\\\\b'");
  EXPECT_EQ(py_repr("l1\nl2\t\r"), "'l1\\nl2\\t\\r'");
  EXPECT_EQ(py_repr(std::string_view("\0\x1f\x7f", 3)), "'\\x00\\x1f\\x7f'");
}

TEST(PyRepr, Floats) {
  EXPECT_EQ(py_repr(1.0), "1.0");
  EXPECT_EQ(py_repr(0.0), "0.0");
  EXPECT_EQ(py_repr(-0.0), "-0.0");
  EXPECT_EQ(py_repr(12.5), "12.5");
  EXPECT_EQ(py_repr(0.1), "0.1");
  EXPECT_EQ(py_repr(2734.293311888), "2734.293311888");
  EXPECT_EQ(py_repr(123456789.0), "123456789.0");
  EXPECT_EQ(py_repr(1e15), "1000000000000000.0");
  EXPECT_EQ(py_repr(1e16), "1e+16");
  EXPECT_EQ(py_repr(1.5e16), "1.5e+16");
  EXPECT_EQ(py_repr(0.0001), "0.0001");
  EXPECT_EQ(py_repr(0.00001), "1e-05");
  EXPECT_EQ(py_repr(1.25e-7), "1.25e-07");
  EXPECT_EQ(py_repr(1e300), "1e+300");
  EXPECT_EQ(py_repr(-2.5), "-2.5");
  EXPECT_EQ(py_repr(1.0 / 3), "0.3333333333333333");
  EXPECT_EQ(py_repr(1.0 / 0.0), "inf");
  EXPECT_EQ(py_repr(-1.0 / 0.0), "-inf");
  EXPECT_EQ(py_repr(0.0 / 0.0), "nan");
}

TEST(PyRepr, IntsAndBools) {
  EXPECT_EQ(py_repr(5), "5");
  EXPECT_EQ(py_repr(-12L), "-12");
  EXPECT_EQ(py_repr(true), "True");
  EXPECT_EQ(py_repr(false), "False");
}
