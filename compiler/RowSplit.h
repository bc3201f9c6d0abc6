// RowSplit: which values a function can compute on chunks of the batch's rows,
// so that evaluating or predicting 10,000 images never holds all their activations at once.
#pragma once

#include "Graph.h"

#include <optional>

namespace nnjit {

/// How a value depends on the rows of the batch.
enum class RowDependence {
  None,    // on no row: params, constants, state
  PerRow,  // batch-major, and each row's block reads only the same row of the inputs
  Summed,  // on the rows only through sums over the batch and the batch's size
  Mixed,   // any other way (batch statistics, a max over the batch): a chunk would change it
};

/// What the batch size is to a function run on a chunk of the batch.
enum class BatchSizeIs {
  ChunkRows,  // the rows of the call: a sum over the batch, of ones (evaluation adds it up by chunks)
  Fixed,      // the whole batch's rows, given to every chunk (the train step by chunks)
};

/// Each node's dependence, in one forward sweep (creation order is topological).
std::vector<RowDependence> rowDependence(const Graph& g, BatchSizeIs size = BatchSizeIs::ChunkRows);

/// The sums over the batch that `roots` read the rows through (a sum over the
/// rows, or `transpose(a) @ b` over the same rows), when every root
/// is Summed or None: computed on each chunk of rows and added up, they give the
/// roots exactly what the whole batch would (up to the order of the additions).
/// nullopt when a root depends on the rows in any other way, or not at all.
std::optional<std::vector<NodeId>> batchSums(const Graph& g, const std::vector<NodeId>& roots,
                                             BatchSizeIs size = BatchSizeIs::ChunkRows);

/// Whether every row of `root` reads only the same row of the inputs, so that
/// computing it on chunks of rows gives each row what the whole batch would
/// (up to rounding where a chunk moves a kernel's vector tail).
bool computedPerRow(const Graph& g, NodeId root);

} // namespace nnjit
