#include "iot/cli/command_line.hpp"

#include <iostream>
#include <sstream>

#include "iot/common/process_metrics.hpp"

namespace iot::cli {

CommandLine::CommandLine(std::string program, std::string usage, std::string about)
    : program_(std::move(program)), usage_(std::move(usage)), about_(std::move(about)) {
  named_.add_options()("help,h", "print this help and exit")("version", "print the version and exit");
}

std::string CommandLine::Help() const {
  std::ostringstream text;
  text << "usage: " << usage_ << "\n";
  if (!about_.empty()) {
    text << about_ << "\n";
  }
  text << "\n" << named_;
  if (!epilog_.empty()) {
    text << "\n" << epilog_;
    if (epilog_.back() != '\n') {
      text << "\n";
    }
  }
  return text.str();
}

std::string CommandLine::VersionLine() const {
  return program_ + " " + std::string(metrics::Version()) + " (commit " + std::string(metrics::Commit()) +
         ")";
}

std::optional<int> CommandLine::Parse(int argc, const char* const* argv, std::ostream& out,
                                      std::ostream& err) {
  po::options_description all;
  all.add(named_).add(hidden_);
  try {
    po::store(po::command_line_parser(argc, argv).options(all).positional(positional_).run(), vars_);
    if (vars_.count("help") != 0U) {
      out << Help();
      return 0;
    }
    if (vars_.count("version") != 0U) {
      out << VersionLine() << "\n";
      return 0;
    }
    po::notify(vars_);
  } catch (const po::error& e) {
    err << program_ << ": " << e.what() << "\nusage: " << usage_ << " (--help for the options)\n";
    return 2;
  }
  return std::nullopt;
}

std::optional<int> CommandLine::Parse(int argc, const char* const* argv) {
  return Parse(argc, argv, std::cout, std::cerr);
}

std::optional<int> ParseServiceCommandLine(int argc, const char* const* argv, const std::string& program,
                                           const std::string& about, std::string& config_path) {
  CommandLine line(program, program + " [--config FILE]", about);
  line.Options()("config", po::value<std::string>(&config_path)->value_name("FILE"),
                 "JSON settings file; the IOT_* environment variables override it");
  line.Epilog(
      "Every setting is an IOT_* environment variable (README.md, Configuration); an empty one is unset.\n");
  return line.Parse(argc, argv);
}

}  // namespace iot::cli
