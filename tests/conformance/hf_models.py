"""Tiny random-weight transformers models, one per family, built from configs.

Nothing is downloaded: each model is its library's own code with a small config
(hidden size 32, 2 layers, vocabulary 100, eager attention, no cache). `FAMILIES` maps a
family to (model class, config class, config arguments, input factory).
"""

from __future__ import annotations

from typing import Any, Callable

import torch

TEXT = dict(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
            max_position_embeddings=64)
DECODER = dict(TEXT, num_key_value_heads=2, use_cache=False, attn_implementation="eager")
EAGER = dict(attn_implementation="eager")
SEQ2SEQ = dict(vocab_size=100, d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
               decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=64,
               use_cache=False)
VISION = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64, image_size=32,
              patch_size=8)


def ids() -> dict[str, torch.Tensor]:
    return {"input_ids": torch.randint(3, 100, (2, 8)), "attention_mask": torch.ones(2, 8, dtype=torch.long)}


def ids_types() -> dict[str, torch.Tensor]:
    return {**ids(), "token_type_ids": torch.zeros(2, 8, dtype=torch.long)}


def ids_padded() -> dict[str, torch.Tensor]:
    mask = torch.tensor([[1] * 8, [1] * 6 + [0] * 2], dtype=torch.long)
    return {"input_ids": torch.randint(3, 100, (2, 8)), "attention_mask": mask}


def encoder_decoder() -> dict[str, torch.Tensor]:
    return {**ids(), "decoder_input_ids": torch.randint(3, 100, (2, 6))}


def pixels() -> dict[str, torch.Tensor]:
    return {"pixel_values": torch.randn(2, 3, 32, 32)}


def text_and_pixels() -> dict[str, torch.Tensor]:
    eos = torch.full((2, 1), 2)
    return {"input_ids": torch.cat([torch.randint(3, 100, (2, 7)), eos], 1),
            "attention_mask": torch.ones(2, 8, dtype=torch.long), **pixels()}


FAMILIES: dict[str, tuple[str, str, dict[str, Any], Callable[[], dict[str, torch.Tensor]]]] = {
    "BERT": ("BertModel", "BertConfig", dict(TEXT, **EAGER), ids_types),
    "RoBERTa": ("RobertaModel", "RobertaConfig", dict(TEXT, max_position_embeddings=66, pad_token_id=1, **EAGER), ids),
    "DistilBERT": ("DistilBertModel", "DistilBertConfig", dict(vocab_size=100, dim=32, n_layers=2, n_heads=4,
                   hidden_dim=64, max_position_embeddings=64, **EAGER), ids),
    "ALBERT": ("AlbertModel", "AlbertConfig", dict(TEXT, embedding_size=16, **EAGER), ids_types),
    "ELECTRA": ("ElectraModel", "ElectraConfig", dict(TEXT, embedding_size=16, **EAGER), ids_types),
    "GPT-2": ("GPT2Model", "GPT2Config", dict(vocab_size=100, n_embd=32, n_layer=2, n_head=4, n_inner=64,
              n_positions=64, use_cache=False, **EAGER), ids_padded),
    "GPT-Neo": ("GPTNeoModel", "GPTNeoConfig", dict(vocab_size=100, hidden_size=32, num_layers=2, num_heads=4,
                intermediate_size=64, max_position_embeddings=64, attention_types=[[["global", "local"], 1]],
                window_size=4, use_cache=False, **EAGER), ids_padded),
    "GPT-J": ("GPTJModel", "GPTJConfig", dict(vocab_size=100, n_embd=32, n_layer=2, n_head=4, n_inner=64,
              n_positions=64, rotary_dim=4, use_cache=False, **EAGER), ids_padded),
    "OPT": ("OPTModel", "OPTConfig", dict(vocab_size=100, hidden_size=32, num_hidden_layers=2, ffn_dim=64,
            num_attention_heads=4, max_position_embeddings=64, word_embed_proj_dim=32, use_cache=False, **EAGER),
            ids_padded),
    "BLOOM": ("BloomModel", "BloomConfig", dict(vocab_size=100, hidden_size=32, n_layer=2, n_head=4,
              use_cache=False, **EAGER), ids_padded),
    "LLaMA": ("LlamaModel", "LlamaConfig", DECODER, ids_padded),
    "Mistral": ("MistralModel", "MistralConfig", dict(DECODER, sliding_window=4), ids_padded),
    "Mixtral": ("MixtralModel", "MixtralConfig", dict(DECODER, num_local_experts=4, num_experts_per_tok=2,
                sliding_window=None), ids_padded),
    "Qwen2": ("Qwen2Model", "Qwen2Config", DECODER, ids_padded),
    "Qwen3": ("Qwen3Model", "Qwen3Config", dict(DECODER, head_dim=8), ids_padded),
    "Phi": ("PhiModel", "PhiConfig", dict(DECODER, partial_rotary_factor=0.5), ids_padded),
    "Gemma": ("GemmaModel", "GemmaConfig", dict(DECODER, head_dim=8), ids_padded),
    "Gemma2": ("Gemma2Model", "Gemma2Config", dict(DECODER, head_dim=8, sliding_window=4), ids_padded),
    "T5": ("T5Model", "T5Config", dict(vocab_size=100, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
           relative_attention_num_buckets=8, decoder_start_token_id=0, use_cache=False, **EAGER), encoder_decoder),
    "BART": ("BartModel", "BartConfig", dict(SEQ2SEQ, **EAGER), encoder_decoder),
    "Whisper": ("WhisperModel", "WhisperConfig", dict(vocab_size=100, d_model=32, encoder_layers=2,
                decoder_layers=2, encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=64,
                decoder_ffn_dim=64, num_mel_bins=16, max_source_positions=16, max_target_positions=32,
                pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=3, use_cache=False,
                **EAGER),
                lambda: {"input_features": torch.randn(2, 16, 32), "decoder_input_ids": torch.randint(3, 100, (2, 6))}),
    "CLIP": ("CLIPModel", "CLIPConfig", dict(
        text_config=dict(vocab_size=100, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, max_position_embeddings=16, pad_token_id=1, bos_token_id=0,
                         eos_token_id=2),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                           num_channels=3, image_size=32, patch_size=8),
        projection_dim=16, **EAGER), text_and_pixels),
    "ViT": ("ViTModel", "ViTConfig", dict(VISION, num_channels=3, **EAGER), pixels),
    "Swin": ("SwinModel", "SwinConfig", dict(image_size=32, patch_size=4, num_channels=3, embed_dim=16,
             depths=[2, 2], num_heads=[2, 4], window_size=4, mlp_ratio=2.0), pixels),
    "ConvNeXt": ("ConvNextModel", "ConvNextConfig", dict(num_channels=3, num_stages=2, hidden_sizes=[16, 32],
                 depths=[1, 1]), pixels),
    "ResNet": ("ResNetModel", "ResNetConfig", dict(num_channels=3, embedding_size=16, hidden_sizes=[16, 32],
               depths=[1, 1], layer_type="basic"), pixels),
    "SegFormer": ("SegformerModel", "SegformerConfig", dict(num_channels=3, num_encoder_blocks=2, depths=[1, 1],
                  sr_ratios=[2, 1], hidden_sizes=[16, 32], patch_sizes=[7, 3], strides=[4, 2],
                  num_attention_heads=[1, 2], mlp_ratios=[2, 2], decoder_hidden_size=32), pixels),
    "Wav2Vec2": ("Wav2Vec2Model", "Wav2Vec2Config", dict(vocab_size=100, hidden_size=32, num_hidden_layers=2,
                 num_attention_heads=4, intermediate_size=64, conv_dim=[16, 16], conv_stride=[5, 2],
                 conv_kernel=[10, 3], num_feat_extract_layers=2, num_conv_pos_embeddings=16,
                 num_conv_pos_embedding_groups=4, **EAGER), lambda: {"input_values": torch.randn(2, 400)}),
    "DeBERTa-v2": ("DebertaV2Model", "DebertaV2Config", dict(TEXT, relative_attention=True, position_buckets=16,
                   max_relative_positions=32, pos_att_type=["p2c", "c2p"], **EAGER), ids_types),
    "DeBERTa": ("DebertaModel", "DebertaConfig", dict(TEXT, **EAGER), ids_types),
    "ModernBERT": ("ModernBertModel", "ModernBertConfig", dict(vocab_size=100, hidden_size=32, num_hidden_layers=2,
                   num_attention_heads=4, intermediate_size=64, pad_token_id=0, **EAGER), ids),
    "MobileBERT": ("MobileBertModel", "MobileBertConfig", dict(TEXT, embedding_size=16, intra_bottleneck_size=16,
                   true_hidden_size=16, num_feedforward_networks=2), ids_types),
    "SqueezeBERT": ("SqueezeBertModel", "SqueezeBertConfig", dict(TEXT, embedding_size=32, q_groups=2, k_groups=2,
                    v_groups=2, post_attention_groups=2, intermediate_groups=4, output_groups=4), ids_types),
    "ConvBERT": ("ConvBertModel", "ConvBertConfig", dict(TEXT, embedding_size=32), ids_types),
    "FNet": ("FNetModel", "FNetConfig", dict(vocab_size=100, hidden_size=32, num_hidden_layers=2,
             intermediate_size=64, max_position_embeddings=64), lambda: {"input_ids": torch.randint(3, 100, (2, 8))}),
    "GPT-NeoX": ("GPTNeoXModel", "GPTNeoXConfig", dict(TEXT, use_cache=False, **EAGER), ids_padded),
    "Falcon": ("FalconModel", "FalconConfig", dict(vocab_size=100, hidden_size=32, num_hidden_layers=2,
               num_attention_heads=4, use_cache=False, **EAGER), ids_padded),
    "StableLM": ("StableLmModel", "StableLmConfig", DECODER, ids_padded),
    "Phi-3": ("Phi3Model", "Phi3Config", dict(DECODER, pad_token_id=0), ids_padded),
    "Starcoder2": ("Starcoder2Model", "Starcoder2Config", DECODER, ids_padded),
    "OLMo": ("OlmoModel", "OlmoConfig", DECODER, ids_padded),
    "OLMo2": ("Olmo2Model", "Olmo2Config", DECODER, ids_padded),
    "Granite": ("GraniteModel", "GraniteConfig", DECODER, ids_padded),
    "Cohere": ("CohereModel", "CohereConfig", DECODER, ids_padded),
    "GLM": ("GlmModel", "GlmConfig", dict(DECODER, head_dim=8, pad_token_id=0), ids_padded),
    "Helium": ("HeliumModel", "HeliumConfig", dict(DECODER, head_dim=8), ids_padded),
    "SmolLM3": ("SmolLM3Model", "SmolLM3Config", dict(DECODER, pad_token_id=0), ids_padded),
    "Qwen2-MoE": ("Qwen2MoeModel", "Qwen2MoeConfig", dict(DECODER, num_experts=4, num_experts_per_tok=2,
                  moe_intermediate_size=16, shared_expert_intermediate_size=16), ids_padded),
    "Mamba": ("MambaModel", "MambaConfig", dict(vocab_size=100, hidden_size=32, num_hidden_layers=2, state_size=8,
              use_cache=False), lambda: {"input_ids": torch.randint(3, 100, (2, 8))}),
    "Pegasus": ("PegasusModel", "PegasusConfig", dict(SEQ2SEQ, **EAGER), encoder_decoder),
    "mBART": ("MBartModel", "MBartConfig", dict(SEQ2SEQ, **EAGER), encoder_decoder),
    "Marian": ("MarianModel", "MarianConfig", dict(SEQ2SEQ, pad_token_id=0, decoder_start_token_id=0, **EAGER),
               encoder_decoder),
    "DeiT": ("DeiTModel", "DeiTConfig", dict(VISION, **EAGER), pixels),
    "BEiT": ("BeitModel", "BeitConfig", dict(VISION, use_relative_position_bias=True, **EAGER), pixels),
    "DINOv2": ("Dinov2Model", "Dinov2Config", dict(VISION, mlp_ratio=2, **EAGER), pixels),
    "DPT": ("DPTModel", "DPTConfig", dict(VISION, **EAGER), pixels),
    "MobileNetV2": ("MobileNetV2Model", "MobileNetV2Config", dict(image_size=32, depth_multiplier=0.25), pixels),
    "EfficientNet": ("EfficientNetModel", "EfficientNetConfig", dict(image_size=32, width_coefficient=0.25,
                     depth_coefficient=0.25, hidden_dim=320), pixels),
    "RegNet": ("RegNetModel", "RegNetConfig", dict(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1],
               groups_width=8), pixels),
    "PoolFormer": ("PoolFormerModel", "PoolFormerConfig", dict(hidden_sizes=[8, 16, 16, 16], depths=[1, 1, 1, 1],
                   num_encoder_blocks=4), pixels),
    "MobileViT": ("MobileViTModel", "MobileViTConfig", dict(image_size=32, hidden_sizes=[16, 16, 16],
                  neck_hidden_sizes=[8, 8, 16, 16, 16, 16, 32]), pixels),
    "HuBERT": ("HubertModel", "HubertConfig", dict(vocab_size=100, hidden_size=32, num_hidden_layers=2,
               num_attention_heads=4, intermediate_size=64, conv_dim=(16, 16), conv_stride=(5, 4), conv_kernel=(10, 8),
               num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=4, **EAGER),
               lambda: {"input_values": torch.randn(2, 400)}),
    # complex rotary embeddings (`torch.polar`, `view_as_real`), top-k routing by `scatter_`
    "Llama4": ("Llama4TextModel", "Llama4TextConfig", dict(DECODER, head_dim=8, num_local_experts=4,
               num_experts_per_tok=1, intermediate_size_mlp=64, no_rope_layers=[1, 0], interleave_moe_layer_step=1,
               attention_chunk_size=64), ids_padded),
    "DeepSeek-V2": ("DeepseekV2Model", "DeepseekV2Config", dict(DECODER, num_key_value_heads=4, n_routed_experts=4,
                    num_experts_per_tok=2, moe_intermediate_size=16, kv_lora_rank=16, q_lora_rank=16,
                    qk_rope_head_dim=8, qk_nope_head_dim=8, v_head_dim=8, first_k_dense_replace=1,
                    n_shared_experts=1), ids_padded),
}


def build(family: str) -> tuple[torch.nn.Module, dict[str, torch.Tensor]]:
    """The family's tiny model (eval mode, seeded weights) and its example keyword inputs."""
    import transformers

    model_name, config_name, config, inputs = FAMILIES[family]
    torch.manual_seed(0)
    model = getattr(transformers, model_name)(getattr(transformers, config_name)(**config))
    return model.eval(), inputs()
