"""A tiny random Qwen2 chat model with a small byte-level BPE tokenizer, built offline in a second."""

from __future__ import annotations

from pathlib import Path

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
TEXT = (
    "The river Senn flows from the Grey Hills into the Amber Sea. Tallow is a port town famous for salt. "
    "Mira Kesh was a navigator who wrote the Book of Tides. Answer: yes, no, search, answer, Paris, London. "
    "Question: which town lies on the river? Observation: the guild was founded in 1612 by Mira Kesh. "
)


def build_tiny_model(folder: Path, seed: int = 0) -> Path:
    """Write a random 2-layer Qwen2 and its tokenizer into `folder`; returns it."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GenerationConfig, PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    folder.mkdir(parents=True, exist_ok=True)
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator([TEXT] * 20, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   additional_special_tokens=specials[1:2])
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(folder)
    eos = fast.convert_tokens_to_ids("<|im_end|>")
    config = Qwen2Config(vocab_size=len(fast), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                         tie_word_embeddings=True, eos_token_id=eos, bos_token_id=None, initializer_range=0.2)
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    model.generation_config = GenerationConfig(eos_token_id=eos)
    model.save_pretrained(folder)
    return folder


def staggered_prompt(i: int) -> list[dict[str, str]]:
    """The i-th of a set of chat prompts of growing length (3 + 7 i words from TEXT's vocabulary), for engine tests
    that stagger requests of mixed lengths."""
    words = "Tallow river Senn salt Mira Kesh navigator Grey Hills Amber Sea guild 1612".split()
    return [{"role": "user", "content": " ".join(words[(i + k) % len(words)] for k in range(3 + 7 * i))}]
