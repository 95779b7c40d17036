#pragma once

#include <iosfwd>
#include <optional>
#include <string>

#include <boost/program_options.hpp>

// One command-line parser for every binary (Boost.Program_options): each declares its options, and
// `--help` (-h) and `--version` come with it.
namespace iot::cli {

namespace po = boost::program_options;

class CommandLine {
 public:
  // `usage`: the synopsis line after "usage: " ("iot-migrate [dsn]"); `about`: what the program does,
  // printed under it by --help.
  CommandLine(std::string program, std::string usage, std::string about);

  // Named options: Options()("name,n", po::value<T>(&x)->default_value(...), "text").
  po::options_description_easy_init Options() { return named_.add_options(); }
  // A positional argument: `count` of them at most (-1: any number), stored in option `name` (which
  // Options() declares too, as hidden when it should not be listed under "options").
  void Positional(const char* name, int count) { positional_.add(name, count); }
  po::options_description_easy_init Hidden() { return hidden_.add_options(); }
  // Text after the options list in --help (environment variables, examples).
  void Epilog(std::string text) { epilog_ = std::move(text); }

  // Parses argv. --help / --version: prints to `out` and returns 0 (the caller exits with it). A bad
  // command line: prints the problem and the usage line to `err` and returns 2. Otherwise nullopt and
  // Vars() holds the values (notified: bound variables are set).
  std::optional<int> Parse(int argc, const char* const* argv, std::ostream& out, std::ostream& err);
  // The same with std::cout / std::cerr.
  std::optional<int> Parse(int argc, const char* const* argv);

  const po::variables_map& Vars() const { return vars_; }
  // Usage, about, options and epilog: what --help prints.
  std::string Help() const;
  // "<program> <version> (commit <commit>)": what --version prints.
  std::string VersionLine() const;

 private:
  std::string program_;
  std::string usage_;
  std::string about_;
  std::string epilog_;
  po::options_description named_{"options"};
  po::options_description hidden_;
  po::positional_options_description positional_;
  po::variables_map vars_;
};

// The services' command line (iot-api, iot-gateway): `[--config FILE]`, --help, --version; settings come
// from the environment. Returns the exit code when main should end there (help, version: 0; a bad
// argument: 2), else nullopt with `config_path` set ("" = none).
std::optional<int> ParseServiceCommandLine(int argc, const char* const* argv, const std::string& program,
                                           const std::string& about, std::string& config_path);

}  // namespace iot::cli
