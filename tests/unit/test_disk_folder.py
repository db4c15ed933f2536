"""The disk tier's folder as the launcher prepares it: LMCache's bounded disk adapter counts only what it
stores itself, so an earlier run's files would sit on top of its bound, never evicted."""

from serving.disk import make_disk_folder


def leftover(folder):
    (folder / "instance-1").mkdir(parents=True)
    (folder / "chunk.bin").write_bytes(b"x" * 1024)
    (folder / "instance-1" / "chunk.bin").write_bytes(b"x" * 1024)


def test_the_stacks_own_bounded_folder_starts_empty(tmp_path):
    leftover(tmp_path / "disk")
    make_disk_folder(tmp_path / "disk", bound_gib=1.0, own=True, log=print)
    assert (tmp_path / "disk").is_dir() and not any((tmp_path / "disk").iterdir())


def test_a_folder_you_named_keeps_its_files_and_a_line_says_what_they_cost(tmp_path):
    leftover(tmp_path / "disk")
    said = []
    make_disk_folder(tmp_path / "disk", bound_gib=1.0, own=False, log=said.append)
    assert (tmp_path / "disk" / "chunk.bin").is_file()
    assert len(said) == 1 and "LMLAB_DISK_GIB=1" in said[0] and "empty the folder" in said[0]


def test_an_unbounded_folder_keeps_its_files_for_the_next_run_to_hit(tmp_path):
    leftover(tmp_path / "disk")
    said = []
    make_disk_folder(tmp_path / "disk", bound_gib=0, own=True, log=said.append)
    assert (tmp_path / "disk" / "chunk.bin").is_file() and said == []


def test_a_missing_folder_is_created_without_a_word(tmp_path):
    said = []
    make_disk_folder(tmp_path / "a" / "disk", bound_gib=1.0, own=False, log=said.append)
    assert (tmp_path / "a" / "disk").is_dir() and said == []
