// MpiTest: `mpirun -np K nnjit train` is one data-parallel job: the checkpoint of one process, the log
// printed once, and a process that fails ends the whole job.
#include "Helpers.h"

#ifdef NNJIT_HAVE_MPI

using namespace nnjit::e2e;

namespace {

// Every reduction kind (the loss, weight and bias gradients, a metric of the
// rows, a metric of params, test rows); 1,700 training rows in batches of 100
// end with a short batch, and chunks of 32 rows with a short last chunk.
const char* kModel = "data \"digits.csv\"\n"
                     "input pixels[batch, 64]\n"
                     "input label[batch] : class(10)\n"
                     "param W1[64, 96] = he\n"
                     "param b1[96] = zeros\n"
                     "param W2[96, 10] = glorot\n"
                     "param b2[10] = zeros\n"
                     "logits = relu(pixels / 16 @ W1 + b1) @ W2 + b2\n"
                     "loss = cross_entropy(logits, label)\n"
                     "metric acc = accuracy(logits, label)\n"
                     "metric w1 = mean(W1)\n"
                     "optimizer adam(lr = 0.01)\n"
                     "train(epochs = 2, batch = 100, test = 97, shuffle = 3)\n";

/// mpirun as the tests run it: as root where CI is root, more processes than
/// cores, and OpenMPI's leaks unreported by a sanitized build.
const std::string kMpirun = "export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "
                            "ASAN_OPTIONS=$ASAN_OPTIONS:detect_leaks=0; mpirun --oversubscribe ";


} // namespace

TEST_CASE("mpi: 1, 2 and 3 processes save the checkpoint one process saves, and print its log once", "[e2e][mpi]") {
  Scratch s;
  s.copy("examples/digits.csv", "digits.csv");
  s.write("mlp.nn", kModel);
  Output one = s.nnjit({"train", "mlp.nn", "--log", "json", "--threads", "1", "--save", "one.safetensors"});
  INFO(one.err);
  REQUIRE(one.status == 0);
  REQUIRE(epochLines(one.out).size() == 2);
  for (const char* job : {"-np 1", "-np 2", "-np 3", "-np 2 --bind-to none"}) {
    for (const char* threads : {"1", "2"}) {
      INFO("mpirun " << job << ", --threads " << threads);
      Output o = s.shell(kMpirun + job + " \"$NNJIT\" train mlp.nn --log json --threads " + threads +
                         " --save job.safetensors");
      INFO(o.err);
      REQUIRE(o.status == 0);
      CHECK(withoutTimes(o.out) == withoutTimes(one.out));  // once, from the first process
      CHECK(s.read("job.safetensors") == s.read("one.safetensors"));
      CHECK_FALSE(contains(o.err, "warning"));
    }
  }
}

TEST_CASE("mpi: a model that trains whole is computed by every process, with a warning, and the same bits",
          "[e2e][mpi]") {
  Scratch s;
  s.copy("examples/digits.csv", "digits.csv");
  std::string model = kModel;
  model.replace(model.find("relu(pixels / 16 @ W1 + b1)"), std::string("relu(pixels / 16 @ W1 + b1)").size(),
                "relu(batch_norm(pixels / 16 @ W1 + b1, gamma, beta))");
  model.replace(model.find("param W2"), 0, "param gamma[96] = ones\nparam beta[96] = zeros\n");
  s.write("bn.nn", model);
  Output one = s.nnjit({"train", "bn.nn", "--threads", "1", "--save", "one.safetensors"});
  INFO(one.err);
  REQUIRE(one.status == 0);
  Output o = s.shell(kMpirun + "-np 2 \"$NNJIT\" train bn.nn --threads 1 --save job.safetensors");
  INFO(o.err);
  REQUIRE(o.status == 0);
  std::vector<std::string> lines = textLines(o.out), expected = textLines(one.out);
  REQUIRE(lines.size() == 3);  // two epochs and `done`, whose times differ
  CHECK(std::vector(lines.begin(), lines.begin() + 2) == std::vector(expected.begin(), expected.begin() + 2));
  CHECK(s.read("job.safetensors") == s.read("one.safetensors"));
  // Once, from the first process.
  std::string warning = "bn.nn: warning: the train step reads statistics of the whole batch (batch norm, a max over "
                        "the batch, or a mean over it read back by each row), so each of the 2 processes computes "
                        "every step: no faster than one";
  REQUIRE(contains(o.err, warning));
  CHECK(o.err.find(warning) == o.err.rfind(warning));

  // A model without data has nothing to share out, and says so.
  s.copy("examples/quadratic.nn", "quadratic.nn");
  Output q = s.shell(kMpirun + "-np 2 \"$NNJIT\" train quadratic.nn");
  REQUIRE(q.status == 0);
  CHECK(contains(q.err, "quadratic.nn: warning: the model has no data to share out, so each of the 2 processes "
                        "computes every step"));
}

TEST_CASE("mpi: a process with a bad CSV ends the whole job with status 1 and no checkpoint", "[e2e][mpi]") {
  Scratch s;
  s.copy("examples/digits.csv", "digits.csv");
  s.write("mlp.nn", kModel);
  s.shell("head -60 digits.csv > bad.csv && echo '1,2,x' >> bad.csv");
  Output o = s.shell(kMpirun + "-np 1 \"$NNJIT\" train mlp.nn --epochs 50 --save job.safetensors : "
                               "-np 1 \"$NNJIT\" train mlp.nn --epochs 50 --data bad.csv --save job.safetensors");
  CHECK(o.status == 1);
  CHECK(contains(o.err, "bad.csv:61: error: expected 65 columns, found 3"));
  CHECK_FALSE(s.exists("job.safetensors"));
}

TEST_CASE("mpi: a killed process ends the whole job within seconds, with no checkpoint", "[e2e][mpi]") {
  Scratch s;
  s.copy("examples/digits.csv", "digits.csv");
  s.write("mlp.nn", kModel);
  // The second process reads the same file by another name, so that it alone can be found and killed.
  Output o = s.shell(kMpirun + "-np 1 \"$NNJIT\" train mlp.nn --epochs 1000000 --log json --save job.safetensors : "
                               "-np 1 \"$NNJIT\" train mlp.nn --epochs 1000000 --data ./digits.csv "
                               "--save job.safetensors > out.txt 2> err.txt &\n"
                               "job=$!\n"
                               "until grep -q epoch out.txt 2>/dev/null; do sleep 0.1; done\n"
                               "pkill -KILL -f \"^$NNJIT train mlp.nn .*--data ./digits.csv\"\n"
                               "start=$(date +%s)\n"
                               "wait $job; status=$?\n"
                               "echo \"status $status after $(( $(date +%s) - start )) s\"");
  INFO(o.out << s.read("err.txt"));
  REQUIRE(o.status == 0);  // the script ended: the job did not hang
  // mpirun reports the killed process's signal (128 + 9) as the job's status.
  CHECK(startsWith(o.out, "status 137 after "));
  int seconds = std::stoi(o.out.substr(o.out.find("after ") + 6));
  CHECK(seconds <= 10);
  CHECK(contains(s.read("err.txt"), "exited on signal 9"));
  CHECK_FALSE(s.exists("job.safetensors"));
}

#endif
