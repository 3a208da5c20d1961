from avprep.keys import clip_key, is_safe_key


def test_same_basename_in_different_folders_never_collide():
    a = clip_key("lrw", "ABOUT/train/ABOUT_00001.mp4")
    b = clip_key("lrw", "ABOUT/val/ABOUT_00001.mp4")
    assert a != b


def test_sanitising_collisions_are_broken_by_the_hash():
    assert clip_key("folder", "a b.mp4") != clip_key("folder", "a_b.mp4")


def test_keys_are_stable_and_tar_safe():
    k = clip_key("folder", "Sprecher Ä/Grüße aus Köln.v2.mp4")
    assert k == clip_key("folder", "Sprecher Ä/Grüße aus Köln.v2.mp4")
    assert is_safe_key(k) and "." not in k and "/" not in k
    assert k.startswith("folder_Sprecher_A__Grue") or k.startswith("folder_Sprecher_A__Gru")


def test_non_ascii_only_name_still_gets_a_key():
    k = clip_key("folder", "日本語.mp4")
    assert is_safe_key(k)
