#include "emit_driver.h"

#include <llvm/IR/Constants.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Support/raw_ostream.h>
#include <map>
#include <tuple>

namespace strata {

namespace {

constexpr int kErrorBufferBytes = 1024;
constexpr uint64_t kHostDirty = 1; // halide_buffer_flag_host_dirty

// Field numbers of Halide's runtime structs (HalideRuntime.h).
enum BufferField { kDevice = 0, kHost = 2, kFlags = 3, kType = 4, kDimensions = 5, kDim = 6 };

class DriverEmitter {
  public:
    DriverEmitter(const DriverProgram &program, llvm::Module &module)
        : program_(program), module_(module), context_(module.getContext()), builder_(context_) {
        buffer_type_ = llvm::StructType::getTypeByName(context_, "struct.halide_buffer_t");
        dimension_type_ = llvm::StructType::getTypeByName(context_, "struct.halide_dimension_t");
        check_internal(buffer_type_ && dimension_type_,
                       "the kernel module defines Halide's buffer types");
        i8_ptr_ = llvm::Type::getInt8PtrTy(context_);
        i32_ = llvm::Type::getInt32Ty(context_);
        size_ = llvm::Type::getInt64Ty(context_);
    }

    void run() {
        hide_kernels();
        emit_error_state();
        emit_weights();
        emit_thread_pool_guard();
        llvm::Function *with_workspace = emit_guarded_run(emit_run_with_workspace());
        emit_run(with_workspace);
        emit_workspace_size();
        emit_set_num_threads();
        emit_last_error();
        std::string problems;
        llvm::raw_string_ostream out(problems);
        check_internal(!llvm::verifyModule(module_, &out),
                       ("the emitted driver is valid LLVM IR: " + out.str()).c_str());
    }

  private:
    std::string symbol(const std::string &suffix) const { return program_.name + "_" + suffix; }

    llvm::Function *runtime(const char *name) {
        llvm::Function *f = module_.getFunction(name);
        check_internal(f != nullptr, "the kernel module links Halide's runtime");
        return f;
    }

    llvm::FunctionCallee libc(const char *name, llvm::Type *result,
                              std::vector<llvm::Type *> params) {
        return module_.getOrInsertFunction(name, llvm::FunctionType::get(result, params, false));
    }

    // Only the C API is exported; kernels and their metadata stay inside.
    void hide_kernels() {
        for (const DriverCall &call : program_.calls) {
            for (const char *suffix : {"", "_argv", "_metadata"}) {
                if (llvm::Function *f = module_.getFunction(call.kernel + suffix)) {
                    f->setLinkage(llvm::GlobalValue::InternalLinkage);
                }
            }
        }
    }

    // A thread-local message buffer and the handler Halide calls on an error.
    void emit_error_state() {
        auto *type = llvm::ArrayType::get(builder_.getInt8Ty(), kErrorBufferBytes);
        error_buffer_ = new llvm::GlobalVariable(
            module_, type, false, llvm::GlobalValue::InternalLinkage,
            llvm::ConstantAggregateZero::get(type), symbol("error_message"), nullptr,
            program_.thread_local_errors ? llvm::GlobalValue::GeneralDynamicTLSModel
                                         : llvm::GlobalValue::NotThreadLocal);
        auto *handler_type =
            llvm::FunctionType::get(builder_.getVoidTy(), {i8_ptr_, i8_ptr_}, false);
        error_handler_ = llvm::Function::Create(handler_type, llvm::GlobalValue::InternalLinkage,
                                                symbol("on_error"), module_);
        builder_.SetInsertPoint(llvm::BasicBlock::Create(context_, "entry", error_handler_));
        store_message(error_handler_->getArg(1));
        builder_.CreateRetVoid();
    }

    void store_message(llvm::Value *message) {
        auto strncpy = libc("strncpy", i8_ptr_, {i8_ptr_, i8_ptr_, size_});
        llvm::Value *buffer = builder_.CreateBitCast(error_buffer_, i8_ptr_);
        builder_.CreateCall(strncpy, {buffer, message, builder_.getInt64(kErrorBufferBytes - 1)});
    }

    void fail_with(int code, const std::string &message) {
        store_message(builder_.CreateGlobalStringPtr(message));
        builder_.CreateRet(builder_.getInt32(code));
    }

    void emit_weights() {
        for (size_t i = 0; i < program_.weights.size(); ++i) {
            const TensorView &w = program_.weights[i];
            // Raw bytes, not floats: LLVM writes an i8 array in one piece, but
            // a float array element by element, at ~90 bytes of memory each.
            size_t bytes = static_cast<size_t>(w.shape.elements()) * sizeof(float);
            llvm::Constant *data = llvm::ConstantDataArray::getRaw(
                llvm::StringRef(reinterpret_cast<const char *>(w.data), bytes), bytes,
                builder_.getInt8Ty());
            auto *global = new llvm::GlobalVariable(module_, data->getType(), true,
                                                    llvm::GlobalValue::PrivateLinkage, data,
                                                    symbol("weight" + std::to_string(i)));
            global->setAlignment(llvm::Align(64));
            weights_.push_back(global);
        }
    }

    // A halide_buffer_t of float32 on the stack of `function`, pointing at `host`.
    llvm::Value *make_buffer(llvm::Value *host, const DriverBuffer &b, bool host_dirty) {
        const std::vector<int64_t> &extents = b.extents;
        llvm::GlobalVariable *dims_global = dimensions(extents, b.strides, b.mins);
        auto *dims_type = llvm::cast<llvm::ArrayType>(dims_global->getValueType());

        llvm::IRBuilder<> entry(&function_->getEntryBlock(), function_->getEntryBlock().begin());
        llvm::Value *buffer = entry.CreateAlloca(buffer_type_);
        builder_.CreateStore(llvm::Constant::getNullValue(buffer_type_), buffer);
        builder_.CreateStore(host, builder_.CreateStructGEP(buffer_type_, buffer, kHost));
        builder_.CreateStore(builder_.getInt64(host_dirty ? kHostDirty : 0),
                             builder_.CreateStructGEP(buffer_type_, buffer, kFlags));
        auto *type_type = llvm::cast<llvm::StructType>(buffer_type_->getElementType(kType));
        llvm::Value *type = builder_.CreateStructGEP(buffer_type_, buffer, kType);
        builder_.CreateStore(builder_.getInt8(2), builder_.CreateStructGEP(type_type, type, 0));
        builder_.CreateStore(builder_.getInt8(32), builder_.CreateStructGEP(type_type, type, 1));
        builder_.CreateStore(builder_.getInt16(1), builder_.CreateStructGEP(type_type, type, 2));
        builder_.CreateStore(builder_.getInt32(static_cast<int>(extents.size())),
                             builder_.CreateStructGEP(buffer_type_, buffer, kDimensions));
        builder_.CreateStore(builder_.CreateConstInBoundsGEP2_32(dims_type, dims_global, 0, 0),
                             builder_.CreateStructGEP(buffer_type_, buffer, kDim));
        return buffer;
    }

    // The constant halide_dimension_t array of a shape, its strides (dense
    // when `strides` is empty) and mins (0 when empty), one per distinct set.
    llvm::GlobalVariable *dimensions(const std::vector<int64_t> &extents,
                                     const std::vector<int64_t> &strides,
                                     const std::vector<int64_t> &mins) {
        llvm::GlobalVariable *&global = dimensions_[{extents, strides, mins}];
        if (global) {
            return global;
        }
        std::vector<llvm::Constant *> dims;
        int64_t stride = 1;
        for (size_t i = 0; i < extents.size(); ++i) {
            if (!strides.empty()) {
                stride = strides.at(i);
            }
            const int64_t min = mins.empty() ? 0 : mins.at(i);
            dims.push_back(llvm::ConstantStruct::get(
                dimension_type_, {builder_.getInt32(min), builder_.getInt32(extents[i]),
                                  builder_.getInt32(stride), builder_.getInt32(0)}));
            stride *= extents[i];
        }
        auto *type = llvm::ArrayType::get(dimension_type_, dims.size());
        global = new llvm::GlobalVariable(module_, type, true, llvm::GlobalValue::PrivateLinkage,
                                          llvm::ConstantArray::get(type, dims), symbol("dims"));
        return global;
    }

    llvm::Value *host_pointer(const DriverBuffer &b) {
        llvm::Value *base = nullptr;
        switch (b.base) {
        case BufferBase::Input: base = input_; break;
        case BufferBase::Output: base = output_; break;
        case BufferBase::Arena: base = arena_; break;
        case BufferBase::Weight:
            base = builder_.CreateBitCast(weights_.at(b.weight), i8_ptr_);
            break;
        }
        return builder_.CreateInBoundsGEP(builder_.getInt8Ty(), base,
                                          builder_.getInt64(b.byte_offset));
    }

    // Returns from the function with `code` unless it is zero.
    void return_if_failed(llvm::Value *code) {
        auto *failed = llvm::BasicBlock::Create(context_, "failed", function_);
        auto *next = llvm::BasicBlock::Create(context_, "next", function_);
        builder_.CreateCondBr(builder_.CreateICmpNE(code, builder_.getInt32(0)), failed, next);
        builder_.SetInsertPoint(failed);
        builder_.CreateRet(code);
        builder_.SetInsertPoint(next);
    }

    void check_argument(llvm::Value *condition_ok, int code, const std::string &message) {
        auto *bad = llvm::BasicBlock::Create(context_, "bad_argument", function_);
        auto *next = llvm::BasicBlock::Create(context_, "next", function_);
        builder_.CreateCondBr(condition_ok, next, bad);
        builder_.SetInsertPoint(bad);
        fail_with(code, message);
        builder_.SetInsertPoint(next);
    }

    // The runs in progress and a thread count waiting for the last of them,
    // shared by every Strata library in the process as the Halide runtime is
    // (weak definitions, which the linker merges), behind one mutex.
    void emit_thread_pool_guard() {
        auto *mutex_type = llvm::StructType::getTypeByName(context_, "struct.halide_mutex");
        check_internal(mutex_type != nullptr, "the kernel module defines Halide's mutex type");
        auto shared = [&](const char *name, llvm::Type *type) {
            return new llvm::GlobalVariable(module_, type, false, llvm::GlobalValue::WeakAnyLinkage,
                                            llvm::Constant::getNullValue(type), name);
        };
        pool_mutex_ = shared("strata_thread_pool_mutex", mutex_type);
        runs_in_flight_ = shared("strata_runs_in_flight", i32_);
        threads_pending_ = shared("strata_thread_count_pending", i32_);
        pending_threads_ = shared("strata_pending_thread_count", i32_);
    }

    llvm::Value *load(llvm::GlobalVariable *global) {
        return builder_.CreateLoad(global->getValueType(), global);
    }

    // Halide's pool only ever grows: halide_set_num_threads bounds the threads
    // it creates, but the threads it has keep taking tasks. So a new count
    // takes effect by shutting the pool down (the next parallel loop starts
    // the threads it needs), at once when no run is in progress, else when
    // the last run in progress returns. Called with the guard's mutex held.
    void apply_thread_count(llvm::Value *threads) {
        builder_.CreateCall(runtime("halide_shutdown_thread_pool"));
        builder_.CreateCall(runtime("halide_set_num_threads"), {threads});
        builder_.CreateStore(builder_.getInt32(0), threads_pending_);
    }

    // NAME_run_with_workspace: `run` between counting itself in and out of
    // the runs in progress, then applying a thread count that waited for it.
    llvm::Function *emit_guarded_run(llvm::Function *run) {
        run->setName(symbol("run_kernels"));
        run->setLinkage(llvm::GlobalValue::InternalLinkage);
        auto *f = llvm::Function::Create(run->getFunctionType(), llvm::GlobalValue::ExternalLinkage,
                                         symbol("run_with_workspace"), module_);
        builder_.SetInsertPoint(llvm::BasicBlock::Create(context_, "entry", f));
        llvm::Function *lock = runtime("halide_mutex_lock");
        llvm::Function *unlock = runtime("halide_mutex_unlock");
        builder_.CreateCall(lock, {pool_mutex_});
        builder_.CreateStore(builder_.CreateAdd(load(runs_in_flight_), builder_.getInt32(1)),
                             runs_in_flight_);
        builder_.CreateCall(unlock, {pool_mutex_});
        std::vector<llvm::Value *> args;
        for (llvm::Argument &arg : f->args()) {
            args.push_back(&arg);
        }
        llvm::Value *code = builder_.CreateCall(run, args);
        builder_.CreateCall(lock, {pool_mutex_});
        llvm::Value *left = builder_.CreateSub(load(runs_in_flight_), builder_.getInt32(1));
        builder_.CreateStore(left, runs_in_flight_);
        auto *apply = llvm::BasicBlock::Create(context_, "apply_thread_count", f);
        auto *done = llvm::BasicBlock::Create(context_, "done", f);
        llvm::Value *last = builder_.CreateICmpEQ(left, builder_.getInt32(0));
        llvm::Value *pending = builder_.CreateICmpNE(load(threads_pending_), builder_.getInt32(0));
        builder_.CreateCondBr(builder_.CreateAnd(last, pending), apply, done);
        builder_.SetInsertPoint(apply);
        apply_thread_count(load(pending_threads_));
        builder_.CreateBr(done);
        builder_.SetInsertPoint(done);
        builder_.CreateCall(unlock, {pool_mutex_});
        builder_.CreateRet(code);
        return f;
    }

    llvm::Function *emit_run_with_workspace() {
        auto *type = llvm::FunctionType::get(i32_, {i8_ptr_, i8_ptr_, i8_ptr_, size_}, false);
        function_ = llvm::Function::Create(type, llvm::GlobalValue::ExternalLinkage,
                                           symbol("run_with_workspace"), module_);
        builder_.SetInsertPoint(llvm::BasicBlock::Create(context_, "entry", function_));
        input_ = function_->getArg(0);
        output_ = function_->getArg(1);
        llvm::Value *workspace = function_->getArg(2);
        llvm::Value *workspace_size = function_->getArg(3);

        builder_.CreateCall(runtime("halide_set_error_handler"), {error_handler_});
        builder_.CreateStore(builder_.getInt8(0), builder_.CreateBitCast(error_buffer_, i8_ptr_));
        check_argument(builder_.CreateIsNotNull(input_), kDriverNullArgument,
                       symbol("run") + ": the input pointer is null");
        check_argument(builder_.CreateIsNotNull(output_), kDriverNullArgument,
                       symbol("run") + ": the output pointer is null");
        arena_ = workspace;
        if (program_.arena_bytes > 0) {
            int64_t needed = workspace_bytes(program_);
            check_argument(builder_.CreateIsNotNull(workspace), kDriverNullArgument,
                           symbol("run_with_workspace") + ": the workspace pointer is null");
            check_argument(builder_.CreateICmpUGE(workspace_size, builder_.getInt64(needed)),
                           kDriverWorkspaceTooSmall,
                           symbol("run_with_workspace") + ": the workspace is smaller than " +
                               symbol("workspace_size") + "() = " + std::to_string(needed) +
                               " bytes");
            // Align the arena to 64 bytes, the alignment every offset assumes.
            llvm::Value *address = builder_.CreatePtrToInt(workspace, size_);
            llvm::Value *aligned =
                builder_.CreateAnd(builder_.CreateAdd(address, builder_.getInt64(63)),
                                   builder_.getInt64(~int64_t{63}));
            arena_ = builder_.CreateIntToPtr(aligned, i8_ptr_);
        }
        for (size_t i = 0; i < program_.calls.size(); ++i) {
            emit_call(program_.calls[i]);
            if (program_.layer_hook) {
                auto hook = libc(kLayerHookSymbol, builder_.getVoidTy(), {i32_});
                builder_.CreateCall(hook, {builder_.getInt32(static_cast<int>(i))});
            }
        }
        builder_.CreateRet(builder_.getInt32(0));
        return function_;
    }

    // memset of each run; a loop over the runs when there are several.
    void zero(const ZeroRuns &runs) {
        auto memset = libc("memset", i8_ptr_, {i8_ptr_, i32_, size_});
        llvm::Value *first = builder_.CreateInBoundsGEP(builder_.getInt8Ty(), arena_,
                                                        builder_.getInt64(runs.byte_offset));
        if (runs.count == 1) {
            builder_.CreateCall(memset,
                                {first, builder_.getInt32(0), builder_.getInt64(runs.bytes)});
            return;
        }
        llvm::BasicBlock *before = builder_.GetInsertBlock();
        auto *loop = llvm::BasicBlock::Create(context_, "zero_runs", function_);
        auto *done = llvm::BasicBlock::Create(context_, "zeroed", function_);
        builder_.CreateBr(loop);
        builder_.SetInsertPoint(loop);
        llvm::PHINode *index = builder_.CreatePHI(size_, 2);
        index->addIncoming(builder_.getInt64(0), before);
        llvm::Value *at = builder_.CreateInBoundsGEP(
            builder_.getInt8Ty(), first, builder_.CreateMul(index, builder_.getInt64(runs.stride)));
        builder_.CreateCall(memset, {at, builder_.getInt32(0), builder_.getInt64(runs.bytes)});
        llvm::Value *next = builder_.CreateAdd(index, builder_.getInt64(1));
        index->addIncoming(next, loop);
        builder_.CreateCondBr(builder_.CreateICmpULT(next, builder_.getInt64(runs.count)), loop,
                              done);
        builder_.SetInsertPoint(done);
    }

    void emit_call(const DriverCall &call) {
        for (const ZeroRuns &runs : call.zero_first) {
            zero(runs);
        }
        if (call.kernel.empty()) {
            int64_t elements = 1;
            for (int64_t e : call.output.extents) {
                elements *= e;
            }
            auto memcpy = libc("memcpy", i8_ptr_, {i8_ptr_, i8_ptr_, size_});
            builder_.CreateCall(memcpy, {host_pointer(call.output), host_pointer(call.inputs.at(0)),
                                         builder_.getInt64(elements * 4)});
            return;
        }
        llvm::Function *kernel = module_.getFunction(call.kernel);
        check_internal(kernel != nullptr, "every called kernel is in the module");
        std::vector<llvm::Value *> buffers;
        for (const DriverBuffer &b : call.inputs) {
            buffers.push_back(make_buffer(host_pointer(b), b, program_.gpu));
        }
        buffers.push_back(make_buffer(host_pointer(call.output), call.output, false));
        return_if_failed(builder_.CreateCall(kernel, buffers));
        if (program_.gpu) {
            // The next kernel reads the result from host memory, and the
            // device copies of this call's buffers are not reused.
            llvm::Value *none =
                llvm::ConstantPointerNull::get(llvm::cast<llvm::PointerType>(i8_ptr_));
            return_if_failed(
                builder_.CreateCall(runtime("halide_copy_to_host"), {none, buffers.back()}));
            for (llvm::Value *b : buffers) {
                return_if_failed(builder_.CreateCall(runtime("halide_device_free"), {none, b}));
            }
        }
    }

    void emit_run(llvm::Function *with_workspace) {
        auto *type = llvm::FunctionType::get(i32_, {i8_ptr_, i8_ptr_}, false);
        function_ = llvm::Function::Create(type, llvm::GlobalValue::ExternalLinkage, symbol("run"),
                                           module_);
        builder_.SetInsertPoint(llvm::BasicBlock::Create(context_, "entry", function_));
        llvm::Value *in = function_->getArg(0);
        llvm::Value *out = function_->getArg(1);
        int64_t bytes = workspace_bytes(program_);
        if (bytes == 0) {
            llvm::Value *none =
                llvm::ConstantPointerNull::get(llvm::cast<llvm::PointerType>(i8_ptr_));
            builder_.CreateRet(
                builder_.CreateCall(with_workspace, {in, out, none, builder_.getInt64(0)}));
            return;
        }
        auto malloc = libc("malloc", i8_ptr_, {size_});
        auto free = libc("free", builder_.getVoidTy(), {i8_ptr_});
        llvm::Value *workspace = builder_.CreateCall(malloc, {builder_.getInt64(bytes)});
        check_argument(builder_.CreateIsNotNull(workspace), kDriverOutOfMemory,
                       symbol("run") + ": cannot allocate the " + std::to_string(bytes) +
                           "-byte workspace");
        llvm::Value *code =
            builder_.CreateCall(with_workspace, {in, out, workspace, builder_.getInt64(bytes)});
        builder_.CreateCall(free, {workspace});
        builder_.CreateRet(code);
    }

    void emit_workspace_size() {
        auto *type = llvm::FunctionType::get(size_, {}, false);
        auto *f = llvm::Function::Create(type, llvm::GlobalValue::ExternalLinkage,
                                         symbol("workspace_size"), module_);
        builder_.SetInsertPoint(llvm::BasicBlock::Create(context_, "entry", f));
        builder_.CreateRet(builder_.getInt64(workspace_bytes(program_)));
    }

    // NAME_set_num_threads: refuses a negative count (Halide's own check
    // would abort without a handler), records the count, and applies it
    // now or after the runs in progress (apply_thread_count).
    void emit_set_num_threads() {
        auto *type = llvm::FunctionType::get(i32_, {i32_}, false);
        function_ = llvm::Function::Create(type, llvm::GlobalValue::ExternalLinkage,
                                           symbol("set_num_threads"), module_);
        llvm::Value *threads = function_->getArg(0);
        builder_.SetInsertPoint(llvm::BasicBlock::Create(context_, "entry", function_));
        check_argument(builder_.CreateICmpSGE(threads, builder_.getInt32(0)), kDriverBadArgument,
                       symbol("set_num_threads") + ": the thread count is negative");
        builder_.CreateCall(runtime("halide_mutex_lock"), {pool_mutex_});
        llvm::Value *previous = builder_.CreateCall(runtime("halide_set_num_threads"), {threads});
        auto *now = llvm::BasicBlock::Create(context_, "apply_now", function_);
        auto *later = llvm::BasicBlock::Create(context_, "apply_later", function_);
        auto *done = llvm::BasicBlock::Create(context_, "done", function_);
        builder_.CreateCondBr(builder_.CreateICmpEQ(load(runs_in_flight_), builder_.getInt32(0)),
                              now, later);
        builder_.SetInsertPoint(now);
        apply_thread_count(threads);
        builder_.CreateBr(done);
        builder_.SetInsertPoint(later);
        builder_.CreateStore(threads, pending_threads_);
        builder_.CreateStore(builder_.getInt32(1), threads_pending_);
        builder_.CreateBr(done);
        builder_.SetInsertPoint(done);
        builder_.CreateCall(runtime("halide_mutex_unlock"), {pool_mutex_});
        builder_.CreateRet(previous);
    }

    void emit_last_error() {
        auto *type = llvm::FunctionType::get(i8_ptr_, {}, false);
        auto *f = llvm::Function::Create(type, llvm::GlobalValue::ExternalLinkage,
                                         symbol("last_error"), module_);
        builder_.SetInsertPoint(llvm::BasicBlock::Create(context_, "entry", f));
        builder_.CreateRet(builder_.CreateBitCast(error_buffer_, i8_ptr_));
    }

    const DriverProgram &program_;
    llvm::Module &module_;
    llvm::LLVMContext &context_;
    llvm::IRBuilder<> builder_;
    llvm::StructType *buffer_type_ = nullptr;
    llvm::StructType *dimension_type_ = nullptr;
    llvm::Type *i8_ptr_ = nullptr;
    llvm::Type *i32_ = nullptr;
    llvm::Type *size_ = nullptr;
    llvm::GlobalVariable *error_buffer_ = nullptr;
    llvm::Function *error_handler_ = nullptr;
    std::vector<llvm::GlobalVariable *> weights_;
    std::map<std::tuple<std::vector<int64_t>, std::vector<int64_t>, std::vector<int64_t>>,
             llvm::GlobalVariable *>
        dimensions_;
    llvm::GlobalVariable *pool_mutex_ = nullptr;
    llvm::GlobalVariable *runs_in_flight_ = nullptr;
    llvm::GlobalVariable *threads_pending_ = nullptr;
    llvm::GlobalVariable *pending_threads_ = nullptr;
    llvm::Function *function_ = nullptr;
    llvm::Value *input_ = nullptr;
    llvm::Value *output_ = nullptr;
    llvm::Value *arena_ = nullptr;
};

} // namespace

void emit_driver(const DriverProgram &program, llvm::Module &module) {
    DriverEmitter(program, module).run();
}

} // namespace strata
