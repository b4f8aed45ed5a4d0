// vnet/wire/pcap.hpp - read and write capture files through libpcap.
//
// pcap_reader yields one record at a time as a view into libpcap's buffer (valid until the
// next call). pcap_writer writes classic pcap files (microsecond or nanosecond stamps)
// that tshark and tcpdump read. Errors carry libpcap's own text, since "why a file could
// not be opened" is what the user needs to read. Link with vnet::pcap.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include <pcap/pcap.h>

#include <vnet/core/bytes.hpp>
#include <vnet/core/expected.hpp>

namespace vnet::wire {

/// An I/O failure with the operating system's or libpcap's message.
struct io_error {
    std::string message;
};
template <class T>
using io_result = expected<T, io_error>;

/// Link types vnet reads (tcpdump.org/linktypes.html).
namespace linktype {
inline constexpr int ethernet = DLT_EN10MB;  // 1
}

struct pcap_record {
    std::chrono::nanoseconds timestamp{};  // since the epoch
    std::uint32_t orig_len = 0;            // length on the wire (data may be shorter: snaplen)
    bytes_view data{};
};

class pcap_reader {
public:
    static io_result<pcap_reader> open(const std::string& path) {
        char err[PCAP_ERRBUF_SIZE] = {};
        pcap_t* p = pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, err);
        if (!p) return unexpected(io_error{std::string(err)});
        return pcap_reader(p);
    }

    pcap_reader(pcap_reader&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
    pcap_reader& operator=(pcap_reader&& o) noexcept {
        if (this != &o) {
            close();
            p_ = std::exchange(o.p_, nullptr);
        }
        return *this;
    }
    pcap_reader(const pcap_reader&) = delete;
    pcap_reader& operator=(const pcap_reader&) = delete;
    ~pcap_reader() { close(); }

    int link_type() const noexcept { return pcap_datalink(p_); }
    int snaplen() const noexcept { return pcap_snapshot(p_); }

    /// The next record, nullopt at the end of the file, or the error that stopped reading.
    io_result<std::optional<pcap_record>> next() {
        pcap_pkthdr* h = nullptr;
        const u_char* d = nullptr;
        int rc = pcap_next_ex(p_, &h, &d);
        if (rc == PCAP_ERROR_BREAK) return std::optional<pcap_record>{};
        if (rc != 1) return unexpected(io_error{std::string(pcap_geterr(p_))});
        pcap_record r;
        r.timestamp = std::chrono::seconds(h->ts.tv_sec) + std::chrono::nanoseconds(h->ts.tv_usec);
        r.orig_len = h->len;
        r.data = {reinterpret_cast<const std::byte*>(d), h->caplen};
        return std::optional<pcap_record>(r);
    }

private:
    explicit pcap_reader(pcap_t* p) noexcept : p_(p) {}
    void close() noexcept {
        if (p_) pcap_close(p_);
        p_ = nullptr;
    }
    pcap_t* p_ = nullptr;
};

class pcap_writer {
public:
    enum class precision { micro, nano };

    static io_result<pcap_writer> create(const std::string& path, int link = linktype::ethernet, int snaplen = 262144,
                                         precision prec = precision::micro) {
        pcap_t* p = pcap_open_dead_with_tstamp_precision(
            link, snaplen, prec == precision::nano ? PCAP_TSTAMP_PRECISION_NANO : PCAP_TSTAMP_PRECISION_MICRO);
        if (!p) return unexpected(io_error{"pcap_open_dead failed"});
        pcap_dumper_t* d = pcap_dump_open(p, path.c_str());
        if (!d) {
            io_error e{std::string(pcap_geterr(p))};
            pcap_close(p);
            return unexpected(std::move(e));
        }
        return pcap_writer(p, d, prec, snaplen);
    }

    pcap_writer(pcap_writer&& o) noexcept
            : p_(std::exchange(o.p_, nullptr)), d_(std::exchange(o.d_, nullptr)), prec_(o.prec_), snaplen_(o.snaplen_) {}
    pcap_writer& operator=(pcap_writer&& o) noexcept {
        if (this != &o) {
            close();
            p_ = std::exchange(o.p_, nullptr);
            d_ = std::exchange(o.d_, nullptr);
            prec_ = o.prec_;
            snaplen_ = o.snaplen_;
        }
        return *this;
    }
    pcap_writer(const pcap_writer&) = delete;
    pcap_writer& operator=(const pcap_writer&) = delete;
    ~pcap_writer() { close(); }

    /// Appends one frame (cut to the snaplen; the record keeps the original length).
    void write(bytes_view frame, std::chrono::nanoseconds ts = {}) {
        pcap_pkthdr h{};
        auto secs = std::chrono::duration_cast<std::chrono::seconds>(ts);
        auto frac = ts - secs;
        h.ts.tv_sec = static_cast<decltype(h.ts.tv_sec)>(secs.count());
        h.ts.tv_usec = static_cast<decltype(h.ts.tv_usec)>(
            prec_ == precision::nano ? frac.count() : std::chrono::duration_cast<std::chrono::microseconds>(frac).count());
        h.len = static_cast<bpf_u_int32>(frame.size());
        h.caplen = static_cast<bpf_u_int32>(
            frame.size() < static_cast<std::size_t>(snaplen_) ? frame.size() : static_cast<std::size_t>(snaplen_));
        pcap_dump(reinterpret_cast<u_char*>(d_), &h, reinterpret_cast<const u_char*>(frame.data()));
    }

    /// Flushes buffered records to the file.
    io_result<bool> flush() {
        if (pcap_dump_flush(d_) != 0) return unexpected(io_error{"pcap flush failed"});
        return true;
    }

private:
    pcap_writer(pcap_t* p, pcap_dumper_t* d, precision prec, int snaplen) noexcept
            : p_(p), d_(d), prec_(prec), snaplen_(snaplen) {}
    void close() noexcept {
        if (d_) pcap_dump_close(d_);
        if (p_) pcap_close(p_);
        d_ = nullptr;
        p_ = nullptr;
    }
    pcap_t* p_ = nullptr;
    pcap_dumper_t* d_ = nullptr;
    precision prec_ = precision::micro;
    int snaplen_ = 262144;
};

}  // namespace vnet::wire
