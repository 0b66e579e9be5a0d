// A write's groups of samples by the address of their id string (SqliteStore::GroupByKey): an
// open-addressing table, so that finding a group reads one array rather than a map's scattered
// nodes. It keeps its slots from write to write (a write allocates nothing once it has grown) and
// grows with the number of distinct strings, not of samples; clearing empties only the slots the
// last write used, so that one huge write leaves no cost behind for the small ones after it.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace driftwatch::sqlite_plugin {

class AddressGroups {
 public:
  // Forgets every address, keeping the slots.
  void Clear() {
    for (const size_t slot : used_) slots_[slot] = Slot{};
    used_.clear();
  }

  // The group `address` was added with, or nullptr (always for a null address).
  const size_t* Find(const char* address) const {
    const Slot& slot = slots_[SlotOf(address)];
    return slot.address != nullptr ? &slot.group : nullptr;
  }

  // Adds a non-null address that Find does not know.
  void Add(const char* address, size_t group) {
    if (2 * (used_.size() + 1) > slots_.size()) Grow();  // at most half full: probes stay short
    const size_t slot = SlotOf(address);
    slots_[slot] = {address, group};
    used_.push_back(slot);
  }

  size_t size() const { return used_.size(); }
  size_t slot_count() const { return slots_.size(); }

 private:
  struct Slot {
    const char* address = nullptr;
    size_t group = 0;
  };

  // The slot holding `address`, or the empty one where it would go.
  size_t SlotOf(const char* address) const {
    const size_t mask = slots_.size() - 1;
    // Fibonacci hashing: an address's low bits are alignment and its high bits shared, so a
    // multiply spreads the middle ones over the top bits, which pick the slot.
    size_t slot = static_cast<size_t>((reinterpret_cast<uintptr_t>(address) * kGoldenRatio) >>
                                      (64 - std::countr_zero(slots_.size())));
    while (slots_[slot].address != nullptr && slots_[slot].address != address) {
      slot = (slot + 1) & mask;
    }
    return slot;
  }

  void Grow() {
    std::vector<Slot> old(slots_.size() * 2);
    old.swap(slots_);
    for (size_t& slot : used_) {
      const Slot moved = old[slot];
      slot = SlotOf(moved.address);
      slots_[slot] = moved;
    }
  }

  static constexpr uint64_t kGoldenRatio = 0x9E3779B97F4A7C15ULL;  // 2^64 / the golden ratio
  std::vector<Slot> slots_ = std::vector<Slot>(64);                // a power of two
  std::vector<size_t> used_;  // the slots in use, in the order added
};

}  // namespace driftwatch::sqlite_plugin
