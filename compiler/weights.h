// The weights of a network: every learned tensor, by its full PyTorch name
// (`layer1.0.conv1.weight`), either read from a safetensors file or drawn at
// compile time when the user gives none.
//
// Entry points:
// - load_weights: maps a safetensors file (no copy);
// - verify_weights: checks a store against the tensors the graph's layers
//   need (parameters.h), so that a wrong file fails at compile time with the
//   tensor, the layer and both shapes named;
// - initialize_weights: He (MSRA) initialisation from a fixed seed, the same
//   bytes on every platform.
#pragma once

#include "graph.h"
#include "parameters.h"
#include "safetensors.h"
#include "tensor.h"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace strata {

/// The seed of `strata compile` without `--weights`: "STRATA", 0, 1.
constexpr uint64_t kDefaultWeightSeed = 0x5354524154410001;

/// Named float32 tensors. The store owns the tensors added to it and keeps
/// alive the safetensors file it borrows from, so every view it hands out
/// lives as long as the store. Move-only: views point into its storage.
class WeightStore {
  public:
    /// An empty store; `source` names where its tensors come from in messages.
    explicit WeightStore(std::string source = {}) : source_(std::move(source)) {}

    /// A store that borrows every tensor of `file`; its source is the file's path.
    explicit WeightStore(SafetensorsFile file);

    WeightStore(WeightStore &&) = default;
    WeightStore &operator=(WeightStore &&) = default;
    WeightStore(const WeightStore &) = delete;
    WeightStore &operator=(const WeightStore &) = delete;
    ~WeightStore() = default;

    /// Adds a tensor the store owns. `name` must not be in the store yet.
    void add(const std::string &name, Tensor tensor);

    /// Puts `tensor` in the place of the tensor called `name`, which must be in
    /// the store (passes that rewrite weights, such as fold_batch_norm, use it).
    /// The old tensor's data stays alive with the store, so views handed out
    /// before stay valid; they keep showing the old values.
    void replace(const std::string &name, Tensor tensor);

    /// Removes the tensor called `name`, which must be in the store, for a pass
    /// that removes its layer. Its data stays alive with the store, as above.
    void erase(const std::string &name);

    /// The tensor called `name`, or nullptr.
    const TensorView *find(const std::string &name) const;

    /// All names, sorted.
    std::vector<std::string> names() const;
    size_t size() const { return views_.size(); }

    /// The file the tensors came from, or a description such as "initialised
    /// weights"; the prefix of every message about them.
    const std::string &source() const { return source_; }

  private:
    std::string source_;
    std::unique_ptr<const SafetensorsFile> file_; // borrowed views point into it
    std::vector<std::unique_ptr<Tensor>> owned_;  // heap-held so views survive growth
    std::map<std::string, TensorView> views_;
};

/// The full name of a layer's tensor: "layer1.0.conv1" + "." + "weight".
std::string parameter_name(const Node &node, const ParameterSpec &spec);

/// Maps and validates a safetensors file (see SafetensorsFile::open).
WeightStore load_weights(const std::string &safetensors_path);

/// Checks that `weights` holds exactly the tensors the graph's layers need,
/// with the shapes they need. Requires infer_shapes to have run. Throws a
/// UserError for the first missing, mis-shaped or extra tensor (naming the
/// tensor, the layer and both shapes) that also says how many other problems
/// there are. Batch norm's `*.num_batches_tracked` counters are accepted and
/// ignored.
void verify_weights(const Graph &graph, const WeightStore &weights);

/// Draws every tensor the graph needs: conv and linear weights from a normal
/// distribution with standard deviation sqrt(2 / fan_in) (He, kaiming normal),
/// biases 0, batch norm weight 1, bias 0, running mean 0 and running variance 1
/// (identity statistics). Each tensor has its own generator, seeded from `seed`
/// and its name, so adding a layer leaves the other layers' weights unchanged,
/// and the generator uses no library maths, so the bytes are the same on every
/// platform. Requires infer_shapes to have run.
WeightStore initialize_weights(const Graph &graph, uint64_t seed = kDefaultWeightSeed);

} // namespace strata
