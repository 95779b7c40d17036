#include "iot/cli/command_line.hpp"

#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

namespace {

namespace po = iot::cli::po;

struct Run {
  std::optional<int> exit_code;
  std::string out;
  std::string err;
};

Run Parse(iot::cli::CommandLine& line, std::vector<const char*> args) {
  args.insert(args.begin(), "prog");
  std::ostringstream out;
  std::ostringstream err;
  Run run;
  run.exit_code = line.Parse(static_cast<int>(args.size()), args.data(), out, err);
  run.out = out.str();
  run.err = err.str();
  return run;
}

}  // namespace

TEST_CASE("CommandLine: options, a positional argument, --help and --version", "[cli]") {
  std::string dsn;
  int count = 3;
  iot::cli::CommandLine line("prog", "prog [DSN] [--count N]", "Does a thing.");
  line.Options()("count", po::value(&count), "how many");
  line.Hidden()("dsn", po::value(&dsn), "dsn");
  line.Positional("dsn", 1);
  line.Epilog("DSN: where.\n");

  Run run = Parse(line, {"postgresql://x/y", "--count", "7"});
  CHECK_FALSE(run.exit_code);
  CHECK(dsn == "postgresql://x/y");
  CHECK(count == 7);
  CHECK(run.out.empty());
  CHECK(run.err.empty());

  iot::cli::CommandLine help_line("prog", "prog [DSN] [--count N]", "Does a thing.");
  help_line.Options()("count", po::value<int>(), "how many");
  help_line.Epilog("DSN: where.\n");
  run = Parse(help_line, {"--help"});
  CHECK(run.exit_code == 0);
  CHECK_THAT(run.out, Catch::StartsWith("usage: prog [DSN] [--count N]\nDoes a thing.\n"));
  CHECK_THAT(run.out,
             Catch::Contains("--count") && Catch::Contains("--version") && Catch::EndsWith("DSN: where.\n"));

  iot::cli::CommandLine version_line("prog", "prog", "");
  run = Parse(version_line, {"--version"});
  CHECK(run.exit_code == 0);
  CHECK(run.out == version_line.VersionLine() + "\n");
  CHECK_THAT(run.out, Catch::StartsWith("prog "));
}

TEST_CASE("CommandLine: a bad command line is exit 2 with the problem and the usage line", "[cli]") {
  for (const std::vector<const char*>& args :
       {std::vector<const char*>{"--bogus"}, {"--count"}, {"--count", "many"}, {"one", "two"}}) {
    int count = 0;
    std::string dsn;
    iot::cli::CommandLine line("prog", "prog [DSN]", "");
    line.Options()("count", po::value(&count), "how many");
    line.Hidden()("dsn", po::value(&dsn), "dsn");
    line.Positional("dsn", 1);
    Run run = Parse(line, args);
    INFO(args.front());
    CHECK(run.exit_code == 2);
    CHECK_THAT(run.err, Catch::StartsWith("prog: ") && Catch::Contains("usage: prog [DSN]"));
    CHECK(run.out.empty());
  }
  std::string path;
  const char* args[] = {"iot-x", "--config=/etc/x.json"};
  CHECK_FALSE(iot::cli::ParseServiceCommandLine(2, args, "iot-x", "", path));
  CHECK(path == "/etc/x.json");
}
